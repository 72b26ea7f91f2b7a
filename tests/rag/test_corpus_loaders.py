"""Corpus loaders on small local files of the real layouts (no hub access)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rag.corpus import (
    GRETEL_COLUMNS,
    load_corpus,
    load_gretel,
    load_spider,
    load_user_file,
)
from rag.errors import DataError

ROW = {
    "id": 7,
    "domain": "retail",
    "domain_description": "Shops.",
    "sql_complexity": "aggregation",
    "sql_complexity_description": "aggregation functions",
    "sql_task_type": "analytics and reporting",
    "sql_task_type_description": "reports",
    "sql_prompt": "How many items?",
    "sql_context": "CREATE TABLE items (id INT); INSERT INTO items VALUES (1), (2);",
    "sql": "SELECT COUNT(*) FROM items;",
    "sql_explanation": "Counts items.",
}


@pytest.fixture
def gretel_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "gretel.jsonl"
    path.write_text("\n".join(json.dumps({**ROW, "id": i}) for i in range(3)) + "\n")
    return path


def test_gretel_local_jsonl_csv_parquet(tmp_path, gretel_jsonl):
    import pandas as pd

    frame = pd.read_json(gretel_jsonl, lines=True)
    frame.to_csv(tmp_path / "g.csv", index=False)
    frame.to_parquet(tmp_path / "g.parquet")
    for path in (gretel_jsonl, tmp_path / "g.csv", tmp_path / "g.parquet"):
        examples = load_gretel(str(path))
        assert [e.id for e in examples] == ["0", "1", "2"]
        assert examples[0].question == "How many items?" and examples[0].sql == "SELECT COUNT(*) FROM items;"
        assert examples[0].meta["sql_complexity"] == "aggregation"
        assert set(examples[0].meta) == set(GRETEL_COLUMNS) - {"id", "sql_prompt", "sql_context", "sql"}
    assert load_corpus(f"gretel:{gretel_jsonl}", "train")[0].db_id == "gretel-local-0"


def test_gretel_missing_columns_and_bad_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "question": "q"}) + "\n")
    with pytest.raises(DataError, match="missing columns"):
        load_gretel(str(bad))
    with pytest.raises(DataError, match="not found"):
        load_gretel(str(tmp_path / "nope.parquet"))
    text = tmp_path / "rows.txt"
    text.write_text("x")
    with pytest.raises(DataError, match="unsupported"):
        load_gretel(str(text))


def test_gretel_hub_offline_names_local_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-coderag-test")
    with pytest.raises(DataError) as caught:
        load_gretel(None)
    assert "gretel:/path/to/train.parquet" in str(caught.value)


def test_spider_layout(tmp_path):
    db_dir = tmp_path / "database" / "concert"
    db_dir.mkdir(parents=True)
    conn = sqlite3.connect(db_dir / "concert.sqlite")
    conn.executescript("CREATE TABLE singer (id INT, name TEXT); INSERT INTO singer VALUES (1, 'Ann');")
    conn.commit()
    conn.close()
    (tmp_path / "tables.json").write_text("[]")
    (tmp_path / "dev.json").write_text(json.dumps([{"db_id": "concert", "question": "Names?", "query": "SELECT name FROM singer"}]))
    [example] = load_spider(tmp_path, "test")
    assert example.db_id == "concert" and example.db_path.endswith("concert.sqlite")
    assert "CREATE TABLE singer" in example.context
    with pytest.raises(DataError, match="no Spider 'train' file"):
        load_spider(tmp_path, "train")
    (tmp_path / "dev.json").write_text("{not json")
    with pytest.raises(DataError, match="invalid JSON"):
        load_spider(tmp_path, "test")


def test_user_jsonl_and_csv(tmp_path):
    db = tmp_path / "mine.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE t (a INT); INSERT INTO t VALUES (1);")
    conn.commit()
    conn.close()
    (tmp_path / "ex.jsonl").write_text(json.dumps({"question": "All a?", "sql": "SELECT a FROM t"}) + "\n")
    (tmp_path / "ex.csv").write_text("question,sql\nAll a?,SELECT a FROM t\n")
    for name in ("ex.jsonl", "ex.csv"):
        [example] = load_user_file(tmp_path / name, db)
        assert example.db_path == str(db) and "CREATE TABLE t" in example.context
    (tmp_path / "empty.csv").write_text("question,sql\n,\n")
    with pytest.raises(DataError, match="non-empty"):
        load_user_file(tmp_path / "empty.csv", db)
    (tmp_path / "latin.jsonl").write_bytes('{"question": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_user_file(tmp_path / "latin.jsonl", db)


def test_unknown_spec_and_empty_split():
    with pytest.raises(DataError, match="unknown corpus"):
        load_corpus("mystery")
    with pytest.raises(DataError, match="no 'validation' split"):
        load_corpus("bundled", "validation")
