"""Triplet files: CSV + JSONL written atomically, and the anchor/positive/negative loader."""

from __future__ import annotations

import csv
import json

import pytest

from rag.errors import DataError
from synth.triplets import (
    COLUMNS,
    Triplet,
    load_triplets,
    read_triplets,
    write_triplets,
)


def rows() -> list[Triplet]:
    a = Triplet(
        query="How many products?",
        pos="SELECT COUNT(*) FROM products",
        category="text2code",
        task_type="text2sql",
        source="test:1",
        meta={"check": "gold"},
    )
    a.set_negatives(["SELECT COUNT(*) FROM orders", "SELECT SUM(stock) FROM products"], "mined")
    b = Triplet(
        query="SELECT name,\n  price FROM products",
        pos='Names and "prices", with a comma',
        category="code2text",
        task_type="sql_explanation",
        source="test:2",
    )
    b.set_negatives(["Totals per category."], "rule")
    return [a, b]


def test_write_and_read_round_trip(tmp_path):
    csv_path, jsonl_path = write_triplets(rows(), tmp_path / "out" / "t.csv")
    assert jsonl_path == tmp_path / "out" / "t.jsonl"
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        got = list(reader)
    assert got[1]["query"] == "SELECT name,\n  price FROM products" and got[1]["pos"] == 'Names and "prices", with a comma'
    assert got[0]["neg"] == "SELECT COUNT(*) FROM orders"
    first = json.loads(jsonl_path.read_text().splitlines()[0])
    assert first["negatives"] == ["SELECT COUNT(*) FROM orders", "SELECT SUM(stock) FROM products"]
    assert first["meta"] == {"check": "gold", "neg_origin": "mined"}
    assert [t.row() for t in read_triplets(jsonl_path)] == [t.row() for t in rows()]
    assert [t.row() for t in read_triplets(csv_path)] == [t.row() for t in rows()]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t.csv", "t.jsonl"]  # no temporary files left


def test_write_refuses_other_suffixes(tmp_path):
    with pytest.raises(DataError, match=".csv"):
        write_triplets(rows(), tmp_path / "t.txt")
    assert not list(tmp_path.iterdir())


def test_load_triplets_gives_the_trainer_columns(tmp_path):
    csv_path, jsonl_path = write_triplets(rows(), tmp_path / "t.csv")
    for path in (csv_path, jsonl_path):
        data = load_triplets(path, strict=True).to_dataset()
        assert data.column_names == ["anchor", "positive", "negative"]
        assert data[0] == {
            "anchor": "How many products?",
            "positive": "SELECT COUNT(*) FROM products",
            "negative": "SELECT COUNT(*) FROM orders",
        }
        assert len(data) == 2
    st = tmp_path / "st.csv"
    st.write_text("anchor,positive,negative\nq,p,n\n")
    assert load_triplets(st, min_rows=1, strict=True).to_dataset()[0] == {"anchor": "q", "positive": "p", "negative": "n"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("query,pos\nq,p\n", "lacks column"),
        ("query,pos,neg\nq,p,\n", r"t.csv:2: empty neg"),
        ("query,pos,neg\nq,p,n\n,p,n\n", r"t.csv:3: empty query"),
        ("query,pos,neg\nq,p,p\n", "repeats the negative"),
        ("query,pos,neg\n", "no rows"),
    ],
)
def test_load_triplets_validates_columns_and_rows(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_triplets(path, strict=True)


def test_load_triplets_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_triplets(tmp_path / "missing.csv")
    (tmp_path / "t.parquet").write_text("x")
    with pytest.raises(DataError, match="unsupported"):
        load_triplets(tmp_path / "t.parquet")
    (tmp_path / "bad.csv").write_bytes(b"query,pos,neg\n\xff\xfe,b,c\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_triplets(tmp_path / "bad.csv")
