"""SQL transformations on fixed inputs with exact expected outputs (golden cases, one loop each)."""

from __future__ import annotations

import doctest
import random

import pytest
from synth_fixtures import SHOP

from synth import sqlrules as sq

SCHEMA = sq.parse_schema(SHOP)


def query(sql: str) -> sq.Query:
    tree = sq.parse_query(sql)
    assert tree is not None, sql
    return sq.Query.of(tree)


def test_module_doctests():
    assert doctest.testmod(sq).failed == 0


def test_parse_query_accepts_only_one_read_only_query():
    assert sq.parse_query("SELECT 1") is not None
    assert sq.parse_query("SELEC broken FROM") is None
    assert sq.parse_query("DELETE FROM products") is None
    assert sq.parse_query("SELECT 1; SELECT 2") is None
    assert sq.parse_query("") is None


def test_parse_schema_reads_tables_and_types():
    assert SCHEMA["products"] == {"product_id": "INTEGER", "name": "TEXT", "category": "TEXT", "price": "REAL", "stock": "INTEGER"}
    assert set(SCHEMA) == {"products", "orders"}
    assert sq.parse_schema("not sql at all ((") == {}


# (rewrite name, input, expected output) — every one must also return the same rows on SHOP
REWRITE_CASES = [
    ("expand_between",
     "SELECT name FROM products WHERE price BETWEEN 10 AND 100 ORDER BY price DESC LIMIT 2",
     "SELECT name FROM products WHERE price >= 10 AND price <= 100 ORDER BY price DESC LIMIT 2"),
    ("in_list_to_or",
     "SELECT name FROM products WHERE price BETWEEN 10 AND 100 AND category IN ('lighting', 'furniture') ORDER BY price DESC LIMIT 2",
     "SELECT name FROM products WHERE price BETWEEN 10 AND 100 AND (category = 'lighting' OR category = 'furniture') ORDER BY price DESC LIMIT 2"),
    ("subquery_to_cte",
     "SELECT name FROM products WHERE product_id IN (SELECT product_id FROM orders WHERE quantity > (SELECT AVG(quantity) FROM orders))",
     "WITH matching_orders AS (SELECT product_id FROM orders WHERE quantity > (SELECT AVG(quantity) FROM orders)) "
     "SELECT name FROM products WHERE product_id IN (SELECT product_id FROM matching_orders)"),
    ("cte_to_subquery",
     "WITH big AS (SELECT product_id FROM orders WHERE quantity >= 5) SELECT p.name FROM big b INNER JOIN products p ON b.product_id = p.product_id",
     "SELECT p.name FROM (SELECT product_id FROM orders WHERE quantity >= 5) AS b INNER JOIN products AS p ON b.product_id = p.product_id"),
    ("anti_join_to_not_exists",
     "SELECT p.name FROM products p LEFT JOIN orders o ON p.product_id = o.product_id WHERE o.order_id IS NULL",
     "SELECT p.name FROM products AS p WHERE NOT EXISTS (SELECT 1 FROM orders AS o WHERE p.product_id = o.product_id)"),
    ("aliases_to_names",
     "SELECT p.name, SUM(o.quantity) AS units FROM orders o INNER JOIN products p ON o.product_id = p.product_id GROUP BY p.name",
     "SELECT products.name, SUM(orders.quantity) AS units FROM orders INNER JOIN products ON orders.product_id = products.product_id GROUP BY products.name"),
    ("names_to_aliases",
     "SELECT products.name, SUM(orders.quantity) AS units FROM orders INNER JOIN products ON orders.product_id = products.product_id GROUP BY products.name",
     "SELECT p.name, SUM(o.quantity) AS units FROM orders AS o INNER JOIN products AS p ON o.product_id = p.product_id GROUP BY p.name"),
    ("joins_to_commas",
     "SELECT p.name, SUM(o.quantity) AS units FROM orders o INNER JOIN products p ON o.product_id = p.product_id GROUP BY p.name",
     "SELECT p.name, SUM(o.quantity) AS units FROM orders AS o, products AS p WHERE o.product_id = p.product_id GROUP BY p.name"),
    ("qualify_columns",
     "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50 ORDER BY price DESC",
     "SELECT products.name, products.price FROM products WHERE products.category = 'furniture' AND products.price > 50 ORDER BY products.price DESC"),
    ("reorder_conditions",
     "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50",
     "SELECT name, price FROM products WHERE price > 50 AND category = 'furniture'"),
]


@pytest.mark.parametrize(("name", "sql", "expected"), REWRITE_CASES, ids=[c[0] for c in REWRITE_CASES])
def test_rewrites_golden_and_equivalent(name, sql, expected):
    rewrite = {r.name: r for r in sq.REWRITES}[name]
    q = query(sql)
    new = rewrite.apply(q.tree, SCHEMA)
    assert new is not None
    assert sq.render(new) == expected
    runner = sq.SqlRunner()
    assert sq.equivalent(runner, q, expected, SHOP, None) is True
    runner.close()


def test_rewrites_that_do_not_apply_return_none():
    q = query("SELECT name FROM products")
    for name in ("expand_between", "in_list_to_or", "subquery_to_cte", "cte_to_subquery", "anti_join_to_not_exists", "aliases_to_names", "joins_to_commas", "reorder_conditions"):
        assert {r.name: r for r in sq.REWRITES}[name].apply(q.tree, SCHEMA) is None, name


def test_subquery_to_cte_leaves_correlated_subqueries_alone():
    q = query("SELECT p.name FROM products p WHERE p.price > (SELECT AVG(p2.price) FROM products p2 WHERE p2.category = p.category)")
    assert sq._subquery_to_cte(q.tree, SCHEMA) is None


# (sql, mutation kind, expected buggy sql, expected bug phrase)
MUTATION_CASES = [
    ("SELECT name, price FROM products WHERE category = 'furniture' AND price > 50", "flipped_comparison",
     "SELECT name, price FROM products WHERE category = 'furniture' AND price < 50",
     "keeps rows where price is less than 50 instead of greater than 50"),
    ("SELECT name, price FROM products WHERE category = 'furniture' AND price > 50", "dropped_condition",
     "SELECT name, price FROM products WHERE price > 50",
     "is missing the condition that category is equal to 'furniture', so rows that should be filtered out are returned"),
    ("SELECT category, AVG(price) AS avg_price FROM products GROUP BY category", "swapped_aggregate",
     "SELECT category, SUM(price) AS avg_price FROM products GROUP BY category",
     "computes the total of price instead of the average"),
    ("SELECT name FROM products ORDER BY price DESC LIMIT 2", "flipped_order",
     "SELECT name FROM products ORDER BY price ASC LIMIT 2",
     "orders by price in ascending order instead of descending order"),
    ("SELECT name FROM products ORDER BY price DESC LIMIT 2", "shifted_limit",
     "SELECT name FROM products ORDER BY price DESC LIMIT 1",
     "returns up to 1 row instead of 2"),
    ("SELECT p.name FROM products p LEFT JOIN orders o ON p.product_id = o.product_id WHERE o.order_id IS NULL", "switched_join",
     "SELECT p.name FROM products AS p INNER JOIN orders AS o ON p.product_id = o.product_id WHERE o.order_id IS NULL",
     "uses an inner join with orders instead of a left join, so rows without a matching orders row are lost"),
    ("SELECT DISTINCT category FROM products", "dropped_distinct",
     "SELECT category FROM products",
     "does not remove duplicate rows because DISTINCT is missing"),
]


@pytest.mark.parametrize(("sql", "kind", "expected", "bug"), MUTATION_CASES, ids=[c[1] for c in MUTATION_CASES])
def test_mutations_golden(sql, kind, expected, bug):
    q = query(sql)
    changes = [sq.apply_mutation(q, site) for site in sq.mutation_sites(q.tree)]
    found = {(c.kind, c.sql): c.bug for c in changes if c is not None}
    assert found[(kind, expected)] == bug


def test_join_conditions_are_not_mutated_as_filters():
    q = query("SELECT p.name FROM products p INNER JOIN orders o ON p.product_id = o.product_id")
    kinds = {c.kind for c in (sq.apply_mutation(q, s) for s in sq.mutation_sites(q.tree)) if c}
    assert kinds == {"switched_join"}


def test_find_bugs_keeps_only_bugs_that_change_the_result():
    runner = sq.SqlRunner()
    q = query("SELECT name, price FROM products WHERE category = 'furniture' AND price > 50 ORDER BY price DESC")
    bugs, checked = sq.find_bugs(q, runner, SHOP, None, random.Random(0), limit=5)
    assert checked is True
    assert [b.kind for b in bugs] == ["flipped_comparison", "flipped_order", "dropped_condition"]
    for bug in bugs:
        assert runner.same_result(q.sql, bug.sql, SHOP, None, ordered=True) is False
    # DISTINCT over unique categories-by-name changes nothing, so that bug is not kept
    q = query("SELECT DISTINCT name FROM products")
    assert sq.find_bugs(q, runner, SHOP, None, random.Random(0))[0] == []
    runner.close()


def test_find_bugs_without_a_database_is_unchecked():
    bugs, checked = sq.find_bugs(query("SELECT name FROM products WHERE price > 5"), None, "", None, random.Random(0))
    assert checked is False
    assert {b.kind for b in bugs} == {"flipped_comparison", "dropped_condition"}


def test_find_edits_golden():
    runner = sq.SqlRunner()
    q = query("SELECT category, AVG(price) AS avg_price FROM products GROUP BY category")
    edits = sq.find_edits(q, SCHEMA, runner, SHOP, None, random.Random(0), limit=10)
    assert [(e.kind, e.instruction, e.sql, e.contrast) for e in edits] == [
        ("add_filter", "Only include rows where category is 'lighting'.",
         "SELECT category, AVG(price) AS avg_price FROM products WHERE category = 'lighting' GROUP BY category",
         "SELECT category, AVG(price) AS avg_price FROM products WHERE category <> 'lighting' GROUP BY category"),
        ("change_aggregate", "Report the maximum price instead of the average.",
         "SELECT category, MAX(price) AS max_price FROM products GROUP BY category",
         "SELECT category, MIN(price) AS min_price FROM products GROUP BY category"),
        ("add_order", "Sort the results by avg_price in ascending order.",
         "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category ORDER BY avg_price ASC",
         "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category ORDER BY avg_price DESC"),
    ]
    assert all(e.changes_result for e in edits)
    runner.close()


def test_translations_golden():
    q = query("SELECT name FROM products WHERE price BETWEEN 10 AND 100 ORDER BY price DESC LIMIT 2")
    tree = sq.for_translation(q.tree)
    assert sq.translate(tree, "tsql") == "SELECT TOP 2 name FROM products WHERE price BETWEEN 10 AND 100 ORDER BY price DESC"
    assert sq.translate(tree, "oracle") == "SELECT name FROM products WHERE price BETWEEN 10 AND 100 ORDER BY price DESC NULLS LAST FETCH FIRST 2 ROWS ONLY"
    found = sq.find_translations(q, random.Random(0), limit=7)
    assert set(found) == {"tsql", "oracle"}  # postgres and snowflake only spell out NULLS LAST
    # a portable query has no translation worth a triplet
    assert sq.find_translations(query("SELECT name FROM products WHERE price > 5"), random.Random(0)) == {}


def test_count_is_not_spelled_count_big_in_tsql():
    tree = sq.for_translation(query("SELECT COUNT(*) FROM products").tree)
    assert sq.translate(tree, "tsql") == "SELECT COUNT(*) FROM products"


def test_styles_golden():
    original = "SELECT p.name, SUM(o.quantity) units FROM orders o INNER JOIN products p ON o.product_id = p.product_id GROUP BY p.name"
    found = sq.styles(query(original), original)
    assert found["layout"] == (
        "SELECT\n  p.name,\n  SUM(o.quantity) AS units\nFROM orders AS o\nINNER JOIN products AS p\n  ON o.product_id = p.product_id\nGROUP BY\n  p.name"
    )
    assert found["explicit"] == "SELECT p.name, SUM(o.quantity) AS units FROM orders AS o INNER JOIN products AS p ON o.product_id = p.product_id GROUP BY p.name"
    # already in house style: nothing to do but the layout
    flat = found["explicit"]
    assert set(sq.styles(query(flat), flat)) == {"layout"}


def test_split_point_cuts_sql_at_a_clause():
    text = "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50"
    cut = sq.split_point(text, random.Random(3), language="sql")
    assert (text[:cut], text[cut:]) == ("SELECT name, price FROM products", " WHERE category = 'furniture' AND price > 50")
    for seed in range(20):
        cut = sq.split_point(text, random.Random(seed), language="sql")
        assert 0.25 * len(text) <= cut <= 0.85 * len(text)
        assert text[cut + 1 :].split()[0] in {"FROM", "WHERE", "AND"}
    assert sq.split_point("SELECT 1", random.Random(0)) is None


def test_runner_compares_results_and_caches_databases():
    runner = sq.SqlRunner(max_databases=1)
    assert runner.same_result("SELECT name FROM products WHERE price > 50", "SELECT name FROM products WHERE 50 < price", SHOP) is True
    assert runner.same_result("SELECT name FROM products ORDER BY name", "SELECT name FROM products ORDER BY name DESC", SHOP, ordered=True) is False
    assert runner.same_result("SELECT name FROM products ORDER BY name", "SELECT name FROM products ORDER BY name DESC", SHOP) is True
    assert runner.same_result("SELECT name FROM products", "SELECT nope FROM products", SHOP) is None
    assert runner.run("SELECT 1", "no database here") is None
    assert runner.run("SELECT 1", "CREATE TABLE broken (") is None
    other = "CREATE TABLE t (a INT); INSERT INTO t VALUES (1);"
    assert runner.run("SELECT a FROM t", other).rows == ((1,),)
    assert runner.run("SELECT COUNT(*) FROM products", SHOP).rows == ((5,),)  # evicted, rebuilt
    runner.close()
