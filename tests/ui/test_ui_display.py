"""Results people can read: the result table rounds floats for display only (the CSV keeps the
exact value), and a knn answer's confidence says what it means."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rag.answer import Answer, RetrievedExample
from ui.downloads import write_csv
from ui.render import card_head, confidence_words, result_table

NOISY = [[0.1 + 0.2, 523.0600000000003, 2.0, 7, None, "x"]]
COLUMNS = ["a", "total", "whole", "n", "missing", "text"]


def test_the_table_rounds_floats_and_keeps_them_numbers() -> None:
    table = result_table(COLUMNS, NOISY, 10)
    assert table["data"] == [[0.3, 523.06, 2.0, 7, "NULL", "x"]]
    assert all(isinstance(v, float) for v in table["data"][0][:3])  # still numbers: the column sorts as numbers
    nan = result_table(["x"], [[float("nan")], [float("inf")]], 10)["data"]
    assert nan[0][0] != nan[0][0] and nan[1] == [float("inf")]


def test_the_csv_keeps_the_exact_value(tmp_path: Path) -> None:
    path = write_csv(tmp_path, COLUMNS, NOISY)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:2] == ["0.30000000000000004", "523.0600000000003"]


def answer(**fields) -> Answer:
    base = {
        "question": "How many books are there?",
        "db": "bookshop",
        "generator": "knn",
        "k": 3,
        "sql": "SELECT 1",
        "columns": ["n"],
        "rows": [[1]],
    }
    return Answer(**{**base, **fields})


def example(question: str, score: float = 0.9) -> RetrievedExample:
    return RetrievedExample(id="e1", score=score, question=question, sql="SELECT 1", db="bookshop")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"confidence": 0.93}, "answered from a close example (confidence 0.93)"),
        ({"confidence": 0.8}, "answered from a close example (confidence 0.80)"),
        ({"confidence": 0.4, "retrieved": [example("how many BOOKS are there")]}, "answered from a close example (confidence 0.40)"),
        ({"confidence": 0.79}, "**unsure: check the SQL and the result** (confidence 0.79)"),
        (
            {"confidence": 0.3, "adapted": {"from_id": "e1", "edits": []}},
            "adapted from a stored example, check the filter (confidence 0.30)",
        ),
        ({"confidence": 0.95, "composed": {"sql": "SELECT 1"}}, "composed from what the question names (confidence 0.95)"),
        ({"composed": {"sql": "SELECT 1"}}, "composed from what the question names"),
        ({}, "reused the SQL of the closest stored example"),
        ({"generator": "openai:qwen", "confidence": None}, ""),
    ],
)
def test_the_confidence_says_what_it_means(fields, words) -> None:
    assert confidence_words(answer(**fields)) == words


def test_the_card_says_it_once() -> None:
    head = card_head(answer(confidence=0.91, retrieved=[example("How many books?", 0.88)]))
    assert "answered from a close example (confidence 0.91)" in head and "closest example 0.88" in head
    assert head.count("confidence") == 1
    assert "SQL written by `openai:qwen`" in card_head(answer(generator="openai:qwen"))
