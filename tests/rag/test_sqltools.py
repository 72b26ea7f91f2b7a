"""SQL extraction from model answers: golden cases in tests/fixtures/rag/extraction.jsonl, run by one loop."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import SQLError
from rag.sqltools import (
    MAX_NESTING,
    nesting_depth,
    postprocess,
    split_statements,
    validate_user_sql,
)

CASES = [json.loads(line) for line in (Path(__file__).parents[1] / "fixtures" / "rag" / "extraction.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[c["answer"][:40] or "<empty>" for c in CASES])
def test_extraction_golden(case):
    if case["sql"] is not None:
        assert postprocess(case["answer"]) == case["sql"]
    else:
        with pytest.raises(SQLError) as caught:
            postprocess(case["answer"])
        assert caught.value.kind == case["kind"]


@pytest.mark.parametrize(
    ("sql", "kind"),
    [("", "no_sql"), ("SELECT 1; SELECT 2", "forbidden"), ("UPDATE t SET a = 1", "forbidden"), ("SELEC 1", "parse_error")],
)
def test_user_sql_validation(sql, kind):
    with pytest.raises(SQLError) as caught:
        validate_user_sql(sql)
    assert caught.value.kind == kind


def test_user_sql_accepts_one_select_with_semicolon():
    assert validate_user_sql("  SELECT 1;  ") == "SELECT 1"


def test_split_statements_respects_quotes_comments_and_triggers() -> None:
    script = (
        "-- a; comment\nCREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('x;y');\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n/* c; */ INSERT INTO t VALUES ('z')"
    )
    assert split_statements(script) == [
        "CREATE TABLE t (a TEXT)",
        "INSERT INTO t VALUES ('x;y')",
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END",
        "INSERT INTO t VALUES ('z')",
    ]


# -- hostile text: size, nesting, regexes, the parser's recursion ---------------------------------------

NESTERS = [("(", ")"), ("(SELECT ", ")"), ("abs(", ")"), ("CASE WHEN 1 THEN ", " END"), ("NOT ", ""), ("- ", ""), ("(1 + ", ")")]


@st.composite
def nested_sql(draw: st.DrawFn) -> str:
    """SELECT with a random mix of nesting constructs, up to 3x deeper than the limit."""
    layers = draw(st.lists(st.sampled_from(NESTERS), min_size=1, max_size=3 * MAX_NESTING))
    return "SELECT " + "".join(opening for opening, _ in layers) + "1" + "".join(closing for _, closing in reversed(layers))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_sql())
def test_nested_sql_is_parsed_or_refused_never_a_recursion_error(sql: str) -> None:
    assert _checking_seconds(sql) < 2


def _checking_seconds(sql: str) -> float:
    """Seconds to validate `sql` as typed SQL and as a model's answer (a refusal is fine)."""
    started = time.monotonic()
    for check in (validate_user_sql, postprocess):
        try:
            check(sql)
        except SQLError:
            pass
    return time.monotonic() - started


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.text(alphabet="()'\";-/*[]` \n\tSELECTWHNDOFRIUPAB1,=", min_size=0, max_size=3000), st.integers(1, 40))
def test_random_and_huge_sql_text_costs_milliseconds(text: str, repeat: int) -> None:
    """Quotes, comments, brackets and keywords in any order and size: every step stays linear."""
    sql = text * repeat
    started = time.monotonic()
    for check in (validate_user_sql, postprocess, split_statements, nesting_depth):
        try:
            check(sql)
        except SQLError:
            pass
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT" + " " * 40_000 + "x",
        "\n" * 19_000,
        "-- a\n" * 3_800,
        "/*" * 9_500,
        "'" * 19_000,
        "select " * 2_700,
        "update " * 2_700,
        "WITH\n" * 3_800,
        "```sql\n" * 2_700,
        "CREATE TRIGGER t BEGIN " + "SELECT 1; " * 1_900,
        "SELECT 1\nAnswer:" * 1_100,
    ],
    ids=[
        "spaces",
        "newlines",
        "comment-lines",
        "open-comments",
        "quotes",
        "selects",
        "updates",
        "withs",
        "fences",
        "trigger",
        "stop-lines",
    ],
)
def test_pathological_text_for_the_regexes(sql: str) -> None:
    # milliseconds when linear; a quadratic regex takes minutes. The faster of two runs, so a busy
    # shared machine does not fail it.
    assert min(_checking_seconds(sql), _checking_seconds(sql)) < 1.5


def test_size_is_capped_before_anything_parses() -> None:
    huge = "SELECT 1 WHERE 1 IN (" + "1," * 2_500_000 + "1)"
    started = time.monotonic()
    for check in (validate_user_sql, postprocess):
        with pytest.raises(SQLError) as caught:
            check(huge)
        assert caught.value.kind == "too_large"
    assert time.monotonic() - started < 0.5
    assert validate_user_sql("SELECT 1", max_chars=8) == "SELECT 1"
    with pytest.raises(SQLError, match="the limit is 7"):
        validate_user_sql("SELECT 1", max_chars=7)


def test_deep_nesting_is_refused_with_its_reason_and_real_nesting_passes() -> None:
    with pytest.raises(SQLError, match="nests more than 32 levels") as caught:
        validate_user_sql("SELECT " + "(" * 46 + "1" + ")" * 46)
    assert caught.value.kind == "too_large"
    assert validate_user_sql("SELECT " + "abs((CASE WHEN 1 THEN " * 10 + "1" + " END))" * 10)
    assert nesting_depth("SELECT '(((((' , \"((\" -- ((((\n /* (( */ FROM t") == 0


def test_a_recursion_error_inside_the_parser_becomes_a_refusal() -> None:
    """Whatever the nesting check misses (here a long NOT chain, no parentheses), the parser's
    recursion is caught, even with little stack left (a deep caller, as in a server thread)."""

    def deep(levels: int) -> SQLError:
        if levels:
            return deep(levels - 1)
        with pytest.raises(SQLError) as caught:
            validate_user_sql("SELECT " + "NOT " * 3000 + "1")
        return caught.value

    assert deep(sys.getrecursionlimit() // 2).kind == "too_large"
