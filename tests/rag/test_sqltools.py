"""SQL extraction from model answers: golden cases in tests/fixtures/rag/extraction.jsonl, run by one loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import SQLError
from rag.sqltools import postprocess, split_statements, validate_user_sql

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
