"""The bundled corpus and demo databases meet the promises the README makes about them."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import pytest

from rag.corpus import CORPUS_DIR, DEMO_DIR, GRETEL_COLUMNS, demo_names, load_bundled
from rag.sqltools import validate_user_sql

COMPLEXITIES = {"basic SQL", "aggregation", "single join", "multiple_joins", "subqueries", "window functions", "set operations", "CTEs"}


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (CORPUS_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_has_exact_gretel_columns_and_size():
    train, test = _rows("train"), _rows("test")
    rows = train + test
    assert len(rows) >= 300 and len(test) >= 60
    assert all(tuple(row) == GRETEL_COLUMNS for row in rows)
    assert len({row["id"] for row in rows}) == len(rows)
    assert not {row["id"] for row in train} & {row["id"] for row in test}
    assert len({row["domain"] for row in rows}) >= 12
    assert {row["sql_complexity"] for row in rows} == COMPLEXITIES
    assert {row["sql_complexity"] for row in test} == COMPLEXITIES


def test_questions_are_not_one_template():
    openings = Counter(" ".join(row["sql_prompt"].split()[:2]).lower() for row in _rows("train") + _rows("test"))
    assert len(openings) > 60
    assert openings.most_common(1)[0][1] < 40


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_context_executes_and_gold_returns_rows(split):
    for row in _rows(split):
        conn = sqlite3.connect(":memory:")
        conn.executescript(row["sql_context"])
        result = conn.execute(row["sql"]).fetchall()
        assert result, f"gold SQL of {row['id']} returns no rows"
        assert any(value is not None for value in result[0]), f"gold SQL of {row['id']} returns only NULLs"
        validate_user_sql(row["sql"])  # one read-only statement that sqlglot parses
        conn.close()


def test_loader_returns_typed_records():
    examples = load_bundled("test")
    assert len(examples) == len(_rows("test"))
    first = examples[0]
    assert first.db_id == f"bundled-{first.id}" and first.db_path is None
    assert first.meta["sql_complexity"] in COMPLEXITIES


@pytest.mark.parametrize("name", demo_names())
def test_demo_database_and_example_store(name):
    assert len(demo_names()) >= 2
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript((DEMO_DIR / name / "schema.sql").read_text(encoding="utf-8"))
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert len(tables) >= 5
    assert all(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] >= 10 for t in tables)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert any(conn.execute(f"PRAGMA foreign_key_list('{t}')").fetchall() for t in tables)
    examples = [json.loads(line) for line in (DEMO_DIR / name / "examples.jsonl").read_text().splitlines() if line.strip()]
    assert len(examples) >= 40
    assert len({e["question"].lower() for e in examples}) == len(examples)
    for example in examples:
        assert conn.execute(validate_user_sql(example["sql"])).fetchall(), example["id"]
