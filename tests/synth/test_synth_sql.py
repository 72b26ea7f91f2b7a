"""SQL transformations on fixed inputs with exact expected outputs: golden fixture files
(tests/fixtures/synth/*.sql) run by one loop each, plus the checks that need a database."""

from __future__ import annotations

import doctest
import importlib
import random

import pytest
from synth_fixtures import SHOP, golden_cases

from rag.execution import DatabaseCache
from synth.sql import dialects, rewrites
from synth.sql.bugs import apply_mutation, find_bugs, mutation_sites
from synth.sql.context import ExampleDatabase, SqlContext, database_cache
from synth.sql.edits import find_edits
from synth.sql.syntax import Query, parse_query, parse_schema, render

SCHEMA = parse_schema(SHOP)


def query(sql: str) -> Query:
    tree = parse_query(sql)
    assert tree is not None, sql
    return Query.of(tree)


@pytest.fixture(scope="module")
def shop():
    with database_cache() as cache:
        yield ExampleDatabase.of(cache, SHOP, None)


def context(sql: str, database: ExampleDatabase | None, seed: int = 0) -> SqlContext:
    return SqlContext(query(sql), SCHEMA, database, random.Random(seed))


@pytest.mark.parametrize("module", ["syntax", "wording", "context", "bugs", "edits", "rewrites", "dialects"])
def test_module_doctests(module):
    assert doctest.testmod(importlib.import_module(f"synth.sql.{module}")).failed == 0


def test_parse_query_accepts_only_one_read_only_query():
    assert parse_query("SELECT 1") is not None
    assert parse_query("SELEC broken FROM") is None
    assert parse_query("DELETE FROM products") is None
    assert parse_query("SELECT 1; SELECT 2") is None
    assert parse_query("") is None


def test_parse_schema_reads_tables_and_types():
    assert SCHEMA["products"] == {"product_id": "INTEGER", "name": "TEXT", "category": "TEXT", "price": "REAL", "stock": "INTEGER"}
    assert set(SCHEMA) == {"products", "orders"}
    assert parse_schema("not sql at all ((") == {}


REWRITE_CASES = golden_cases("rewrites.sql")
BY_NAME = {r.name: r for r in rewrites.REWRITES}


def test_every_rewrite_has_a_golden_case():
    assert {case.fields["rewrite"] for case in REWRITE_CASES} == set(BY_NAME)


@pytest.mark.parametrize("case", REWRITE_CASES, ids=[c.id for c in REWRITE_CASES])
def test_rewrites_golden_and_equivalent(case, shop):
    sql, expected = case.sql
    new = BY_NAME[case.fields["rewrite"]].apply(query(sql).tree, SCHEMA)
    assert new is not None
    assert render(new) == expected
    assert context(sql, shop).equivalent(expected) is True


def test_rewrites_that_do_not_apply_return_none():
    q = query("SELECT name FROM products")
    for name in (
        "expand_between",
        "in_list_to_or",
        "subquery_to_cte",
        "cte_to_subquery",
        "anti_join_to_not_exists",
        "aliases_to_names",
        "joins_to_commas",
        "reorder_conditions",
    ):
        assert BY_NAME[name].apply(q.tree, SCHEMA) is None, name


def test_subquery_to_cte_leaves_correlated_subqueries_alone():
    q = query("SELECT p.name FROM products p WHERE p.price > (SELECT AVG(p2.price) FROM products p2 WHERE p2.category = p.category)")
    assert BY_NAME["subquery_to_cte"].apply(q.tree, SCHEMA) is None


BUG_CASES = golden_cases("bugs.sql")


@pytest.mark.parametrize("case", BUG_CASES, ids=[c.id for c in BUG_CASES])
def test_mutations_golden(case):
    sql, expected = case.sql
    q = query(sql)
    changes = [apply_mutation(q, site) for site in mutation_sites(q.tree)]
    found = {(c.kind, c.sql): c.bug for c in changes if c is not None}
    assert found[(case.fields["bug"], expected)] == case.fields["says"]


def test_join_conditions_are_not_mutated_as_filters():
    q = query("SELECT p.name FROM products p INNER JOIN orders o ON p.product_id = o.product_id")
    kinds = {c.kind for c in (apply_mutation(q, s) for s in mutation_sites(q.tree)) if c}
    assert kinds == {"switched_join"}


def test_find_bugs_keeps_only_bugs_that_change_the_result(shop):
    ctx = context("SELECT name, price FROM products WHERE category = 'furniture' AND price > 50 ORDER BY price DESC", shop)
    bugs, checked = find_bugs(ctx, limit=5)
    assert checked is True
    assert [b.kind for b in bugs] == ["flipped_comparison", "flipped_order", "dropped_condition"]
    for bug in bugs:
        assert ctx.same_result(bug.sql) is False
    # DISTINCT over unique categories-by-name changes nothing, so that bug is not kept
    assert find_bugs(context("SELECT DISTINCT name FROM products", shop))[0] == []


def test_find_bugs_without_a_database_is_unchecked():
    bugs, checked = find_bugs(context("SELECT name FROM products WHERE price > 5", None))
    assert checked is False
    assert {b.kind for b in bugs} == {"flipped_comparison", "dropped_condition"}


def test_find_edits_golden(shop):
    edits = find_edits(context("SELECT category, AVG(price) AS avg_price FROM products GROUP BY category", shop), limit=10)
    assert [(e.kind, e.instruction, e.sql, e.contrast) for e in edits] == [
        (
            "add_filter",
            "Only include rows where category is 'lighting'.",
            "SELECT category, AVG(price) AS avg_price FROM products WHERE category = 'lighting' GROUP BY category",
            "SELECT category, AVG(price) AS avg_price FROM products WHERE category <> 'lighting' GROUP BY category",
        ),
        (
            "change_aggregate",
            "Report the maximum price instead of the average.",
            "SELECT category, MAX(price) AS max_price FROM products GROUP BY category",
            "SELECT category, MIN(price) AS min_price FROM products GROUP BY category",
        ),
        (
            "add_order",
            "Sort the results by avg_price in ascending order.",
            "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category ORDER BY avg_price ASC",
            "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category ORDER BY avg_price DESC",
        ),
    ]
    assert all(e.changes_result for e in edits)


TRANSLATION_CASES = golden_cases("translations.sql")


@pytest.mark.parametrize("case", TRANSLATION_CASES, ids=[c.id for c in TRANSLATION_CASES])
def test_translations_golden(case):
    sql, expected = case.sql
    assert dialects.translate(dialects.for_translation(query(sql).tree), case.fields["dialect"]) == expected


def test_find_translations_keeps_dialects_that_read_differently():
    q = query("SELECT name FROM products WHERE price BETWEEN 10 AND 100 ORDER BY price DESC LIMIT 2")
    assert set(dialects.find_translations(q, random.Random(0), limit=7)) == {
        "tsql",
        "oracle",
    }  # postgres and snowflake only spell out NULLS LAST
    # a portable query has no translation worth a triplet
    assert dialects.find_translations(query("SELECT name FROM products WHERE price > 5"), random.Random(0)) == {}


def test_styles_golden():
    original = "SELECT p.name, SUM(o.quantity) units FROM orders o INNER JOIN products p ON o.product_id = p.product_id GROUP BY p.name"
    found = dialects.styles(query(original), original)
    assert found["layout"] == (
        "SELECT\n  p.name,\n  SUM(o.quantity) AS units\nFROM orders AS o\nINNER JOIN products AS p\n  ON o.product_id = p.product_id\nGROUP BY\n  p.name"
    )
    assert (
        found["explicit"]
        == "SELECT p.name, SUM(o.quantity) AS units FROM orders AS o INNER JOIN products AS p ON o.product_id = p.product_id GROUP BY p.name"
    )
    # already in house style: nothing to do but the layout
    flat = found["explicit"]
    assert set(dialects.styles(query(flat), flat)) == {"layout"}


def test_example_database_compares_results_and_caches_databases():
    cache = DatabaseCache(timeout_s=2.0, max_rows=500, capacity=1, result_capacity=100)
    shop = ExampleDatabase.of(cache, SHOP, None)
    assert shop.same_result("SELECT name FROM products WHERE price > 50", "SELECT name FROM products WHERE 50 < price") is True
    assert shop.same_result("SELECT name FROM products ORDER BY name", "SELECT name FROM products ORDER BY name DESC") is False
    assert (
        shop.same_result("SELECT name FROM products ORDER BY name", "SELECT name FROM products ORDER BY name DESC", ordered=False) is True
    )
    assert shop.same_result("SELECT name FROM products", "SELECT nope FROM products") is None
    assert ExampleDatabase.of(cache, "no database here", None) is None
    assert ExampleDatabase.of(None, SHOP, None) is None
    assert ExampleDatabase.of(cache, "CREATE TABLE broken (", None).run("SELECT 1") is None
    other = ExampleDatabase.of(cache, "CREATE TABLE t (a INT); INSERT INTO t VALUES (1);", None)
    assert other.run("SELECT a FROM t").rows == [(1,)]
    assert shop.run("SELECT COUNT(*) FROM products").rows == [(5,)]  # evicted, rebuilt
    assert cache.builds == 4
    cache.close()
