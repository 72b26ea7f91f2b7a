"""The shipped curated set: 40 reviewed triplets, 10 per category, from the bundled train split only."""

from __future__ import annotations

import csv
import json
from collections import Counter

from rag.corpus import load_bundled
from synth.pipeline import SHIPPED
from synth.sql.context import ExampleDatabase, database_cache
from synth.sql.syntax import parse_query
from synth.tasks import TASKS
from synth.triplets import COLUMNS, jsonl_path, load_triplets, read_triplets


def test_shape_and_columns():
    with SHIPPED.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    assert len(rows) == 40
    assert Counter(r["category"] for r in rows) == {"text2code": 10, "code2text": 10, "code2code": 10, "hybrid": 10}
    assert all(r["query"] and r["pos"] and r["neg"] for r in rows)
    assert all(TASKS[r["task_type"]].category.value == r["category"] for r in rows)
    data = load_triplets(SHIPPED, strict=True).to_dataset()
    assert data.column_names == ["anchor", "positive", "negative"] and len(data) == 40


def test_only_the_train_split_was_used():
    train = {ex.id: ex for ex in load_bundled("train")}
    test = {ex.id for ex in load_bundled("test")}
    test_sql = {ex.sql.rstrip(";").strip() for ex in load_bundled("test")}
    for row in read_triplets(SHIPPED):
        kind, split, example_id = row.source.split(":")
        assert (kind, split) == ("bundled", "train") and example_id in train and example_id not in test
        assert row.pos not in test_sql and row.neg not in test_sql


def test_jsonl_alongside_matches_and_records_the_review():
    csv_rows = [r.row() for r in read_triplets(SHIPPED)]
    lines = [json.loads(line) for line in jsonl_path(SHIPPED).read_text(encoding="utf-8").splitlines()]
    assert [{k: line[k] for k in COLUMNS} for line in lines] == csv_rows
    assert all(line["meta"]["review"] == "accepted" and line["meta"]["generator"] == "rules" for line in lines)
    assert all(line["negatives"][0] == line["neg"] for line in lines)


def test_sql_positives_run_and_differ_from_their_negatives():
    """Every SQLite positive runs on its example's database, and no SQL negative returns the same rows."""
    train = {ex.id: ex for ex in load_bundled("train")}
    with database_cache() as cache:
        for row in read_triplets(SHIPPED):
            if row.task_type in ("sql_translation", "sql_migration", "code_context") or parse_query(row.pos) is None:
                continue
            database = ExampleDatabase.of(cache, train[row.source.rsplit(":", 1)[1]].context, None)
            assert database.run(row.pos) is not None, row.pos
            if parse_query(row.neg) is not None:
                assert database.same_result(row.pos, row.neg) is not True, (row.pos, row.neg)
