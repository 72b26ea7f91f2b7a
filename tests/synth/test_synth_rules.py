"""Rule-based generation on fixed inputs: exact triplets, determinism, bad input counted not raised."""

from __future__ import annotations

import dataclasses
import random

import pytest
from synth_fixtures import shop_example

from synth.rules import generate_rule_triplets, split_point
from synth.sources import Snippet, python_snippets, snippets_from_examples
from synth.tasks import TASKS, select_tasks


@pytest.fixture
def snippets(shop_examples):
    return snippets_from_examples(shop_examples[:2]).snippets


def by_task(triplets, source):
    return {t.task_type: t for t in triplets if t.source == source}


def test_sql_rules_golden(snippets):
    triplets, stats = generate_rule_triplets(snippets, select_tasks(None), seed=0, show_progress=False)
    first, second = by_task(triplets, "test:train:1"), by_task(triplets, "test:train:2")
    sql1 = "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50"
    sql2 = "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category"

    assert (first["text2sql"].query, first["text2sql"].pos, first["text2sql"].neg) == (
        "Which furniture products cost more than 50?",
        sql1,
        "",
    )
    assert first["sql_explanation"].pos == "Filters products to furniture priced above 50 and returns name and price."
    assert first["sql_to_question"].query == sql1

    bug = first["sql_bug_description"]
    assert bug.query == (
        'The query for "Which furniture products cost more than 50?" is missing the condition that price is greater '
        "than 50, so rows that should be filtered out are returned."
    )
    assert (bug.pos, bug.neg) == (sql1, "SELECT name, price FROM products WHERE category = 'furniture'")
    assert bug.meta["check"] == "executed" and bug.meta["neg_origin"] == "rule"

    fix = first["sql_bug_fix"]
    assert fix.query == (
        'This query should answer "Which furniture products cost more than 50?", but it keeps rows where price is less '
        "than 50 instead of greater than 50. Fix it:\nSELECT name, price FROM products WHERE category = 'furniture' AND price < 50"
    )
    assert fix.pos == sql1

    modification = second["sql_modification"]
    assert modification.query == f"Report the maximum price instead of the average.\n{sql2}"
    assert modification.pos == "SELECT category, MAX(price) AS max_price FROM products GROUP BY category"
    assert modification.neg == "SELECT category, MIN(price) AS min_price FROM products GROUP BY category"

    comparison = second["sql_comparison"]
    assert comparison.query == (
        f"Do these two queries return the same rows? Explain the difference.\nQuery 1:\n{sql2}\nQuery 2:\n"
        "SELECT products.category, AVG(products.price) AS avg_price FROM products GROUP BY products.category"
    )
    assert comparison.pos == "Both queries return the same rows; the second one only qualifies every column with its table."
    assert comparison.negatives == [
        "The second query computes the total of price, while the first computes the average; otherwise the two queries are the same.",
        "The second query computes the maximum of price instead of the average; otherwise the two queries are the same.",
    ]

    assert (second["code_context"].query, second["code_context"].pos) == (
        "SELECT category, AVG(price) AS avg_price",
        "FROM products GROUP BY category",
    )
    assert second["sql_style"].pos == "SELECT\n  category,\n  AVG(price) AS avg_price\nFROM products\nGROUP BY\n  category"
    assert (
        second["sql_rewrite"].pos == "SELECT products.category, AVG(products.price) AS avg_price FROM products GROUP BY products.category"
    )
    assert (
        second["sql_rewrite"].neg == "SELECT products.category, SUM(products.price) AS avg_price FROM products GROUP BY products.category"
    )

    # portable queries have no dialect translation: counted as not applicable, not as failures
    assert "sql_translation" not in first and stats.notes["not applicable: sql_translation"] == 2
    assert stats.total("failures") == 0
    for t in triplets:
        assert t.category == TASKS[t.task_type].category.value
        assert t.query and t.pos and t.query != t.pos


def test_rules_are_deterministic_and_independent_of_task_selection(snippets):
    every, _ = generate_rule_triplets(snippets, select_tasks(None), seed=0, show_progress=False)
    again, _ = generate_rule_triplets(snippets, select_tasks(None), seed=0, show_progress=False)
    assert [t.to_json() for t in every] == [t.to_json() for t in again]
    only, _ = generate_rule_triplets(snippets, select_tasks(["sql_comparison", "sql_bug_fix"]), seed=0, show_progress=False)
    subset = [t.to_json() for t in every if t.task_type in ("sql_comparison", "sql_bug_fix")]
    assert [t.to_json() for t in only] == subset
    other_seed, _ = generate_rule_triplets(snippets, select_tasks(None), seed=1, show_progress=False)
    assert [t.to_json() for t in other_seed] != [t.to_json() for t in every]


def test_workers_give_the_same_output(shop_examples):
    snippets = snippets_from_examples(shop_examples).snippets
    one, _ = generate_rule_triplets(snippets, select_tasks(["hybrid"]), seed=0, show_progress=False, chunk_size=2)
    two, _ = generate_rule_triplets(snippets, select_tasks(["hybrid"]), seed=0, workers=2, show_progress=False, chunk_size=2)
    assert [t.to_json() for t in one] == [t.to_json() for t in two]


def test_unparseable_sql_is_counted_and_skipped():
    bad = snippets_from_examples([shop_example(9, "Broken?", "SELEC name FORM products")]).snippets
    triplets, stats = generate_rule_triplets(bad, select_tasks(None), show_progress=False)
    assert triplets == []
    assert stats.notes["skipped input: SQL that does not parse"] == 1


def test_a_failing_rule_is_counted_not_raised(snippets):
    def explode(task, facts):
        raise RuntimeError("boom")

    tasks = [dataclasses.replace(TASKS["text2sql"], rule=explode), TASKS["sql_explanation"]]
    triplets, stats = generate_rule_triplets(snippets, tasks, show_progress=False)
    assert {t.task_type for t in triplets} == {"sql_explanation"}
    assert stats.stages["failures"]["text2code"] == 2
    assert stats.notes["failure: rule text2sql (RuntimeError)"] == 2


def test_docstring_rules_on_python_code():
    source = '''def area(width, height):
    """Compute the area of a rectangle.

    Longer notes that are not part of the summary.
    """

    result = width * height
    return result
'''
    snippet = python_snippets(source, "geo.py")[0]
    triplets, _ = generate_rule_triplets([snippet], select_tasks(["code_explanation", "code_summary", "code_context"]), show_progress=False)
    got = {t.task_type: t for t in triplets}
    body = "def area(width, height):\n    result = width * height\n    return result"
    assert (got["code_explanation"].query, got["code_explanation"].pos) == ("Compute the area of a rectangle.", body)
    assert (got["code_summary"].query, got["code_summary"].pos) == (body, "Compute the area of a rectangle.")
    assert got["code_context"].meta["language"] == "python"
    assert got["code_context"].source == "geo.py:area"


def test_code_rules_skip_snippets_without_a_docstring():
    snippet = Snippet(text="x = 1\ny = 2\nz = 3", language="python", origin="a.py:1", body="x = 1\ny = 2\nz = 3")
    triplets, stats = generate_rule_triplets([snippet], select_tasks(["code_explanation", "code_summary"]), show_progress=False)
    assert triplets == []
    assert stats.notes["not applicable: code_summary"] == 1


def test_split_point_cuts_sql_at_a_clause():
    text = "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50"
    cut = split_point(text, random.Random(3), language="sql")
    assert (text[:cut], text[cut:]) == ("SELECT name, price FROM products", " WHERE category = 'furniture' AND price > 50")
    for seed in range(20):
        cut = split_point(text, random.Random(seed), language="sql")
        assert 0.25 * len(text) <= cut <= 0.85 * len(text)
        assert text[cut + 1 :].split()[0] in {"FROM", "WHERE", "AND"}
    assert split_point("SELECT 1", random.Random(0)) is None


def test_schema_linking_pairs_a_question_with_the_tables_its_sql_reads(snippets):
    """The new text2code task (issue 25): question → the words rag.linking ranks a table by; the
    negative is the schema's other table."""
    triplets, _ = generate_rule_triplets(snippets, select_tasks(["sql_schema_linking"]), seed=0, show_progress=False)
    first = by_task(triplets, "test:train:1")["sql_schema_linking"]
    assert first.category == "text2code"
    assert first.pos == "products: product id, name, category, price, stock"
    assert first.negatives == ["orders: order id, product id, quantity, channel"]
