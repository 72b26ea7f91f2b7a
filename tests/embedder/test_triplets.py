"""Triplet files: required columns, cleaning (empty, duplicate rows) with counts, pair-file aliases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from embedder_testing import TRIPLETS, write_csv

from rag.errors import DataError
from synth.triplets import load_triplets


def test_fixture_loads_with_negatives() -> None:
    triplets = load_triplets(TRIPLETS)
    assert len(triplets.rows) == 16 and len(triplets.with_negatives) == 16
    assert triplets.empty == triplets.duplicates == 0
    assert {r.category for r in triplets.rows} == {"text2code", "code2text"}
    assert len(triplets.fingerprint()) == 16


def test_empty_and_duplicate_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [
        {"query": "q1", "pos": "p1", "neg": "n1"},
        {"query": "q1", "pos": "p1", "neg": "n1"},  # duplicate
        {"query": "  ", "pos": "p2", "neg": ""},  # empty query
        {"query": "q3", "pos": "", "neg": "n3"},  # empty positive
        {"query": "q4", "pos": "p4", "neg": ""},  # no negative: a pair
    ]
    triplets = load_triplets(write_csv(tmp_path / "t.csv", rows))
    assert (triplets.read, len(triplets.rows), triplets.empty, triplets.duplicates) == (5, 2, 2, 1)
    assert [r.query for r in triplets.without_negatives] == ["q4"]
    summary = triplets.summary()
    assert summary["dropped_empty"] == 2 and summary["dropped_duplicate"] == 1


def test_missing_columns_name_what_is_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"question": "q", "sql": "s"}])
    with pytest.raises(DataError, match=r"lacks column\(s\) query, pos"):
        load_triplets(path)


def test_too_few_usable_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"query": "q", "pos": "p", "neg": ""}, {"query": "", "pos": "", "neg": ""}])
    with pytest.raises(DataError, match="1 usable row"):
        load_triplets(path)


def test_pair_files_use_anchor_positive(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        "".join(json.dumps({"anchor": f"a{i}", "positive": f"p{i}", "source": "mbpp", "split": "train"}) + "\n" for i in range(3))
    )
    triplets = load_triplets(path)
    assert [(r.query, r.pos, r.neg) for r in triplets.rows] == [("a0", "p0", ""), ("a1", "p1", ""), ("a2", "p2", "")]


@pytest.mark.parametrize(
    "name, content, message", [("t.txt", "x", "unsupported"), ("missing.csv", None, "not found"), ("e.csv", "", "no rows")]
)
def test_bad_files(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_triplets(path)


def test_nan_cells_from_pandas_count_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["query", "pos", "neg"], ["q1", "p1", ""], ["q2", "p2", "n2"]])
    assert [r.neg for r in load_triplets(path).rows] == ["", "n2"]
