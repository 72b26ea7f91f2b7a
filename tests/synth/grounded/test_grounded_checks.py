"""Which results are kept, which are degenerate (and why), and which collapse into one example."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from rag.sandbox import ReadOnlyDatabase
from synth.grounded.draw import Candidate
from synth.grounded.synthesize import SynthesisStats, Synthesizer
from synth.sql.syntax import parse_query

_counter = itertools.count()


@pytest.fixture
def synthesizer(tmp_path):
    path = tmp_path / "items.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price INTEGER, kind TEXT);
            INSERT INTO items VALUES (1, 'a', 5, 'x'), (2, 'b', 6, 'x'), (3, 'c', 7, 'y'), (4, 'd', 7, 'y');
        """)
    with ReadOnlyDatabase.open(path, timeout_s=0.5, max_rows=100) as db:
        yield Synthesizer(db, SynthesisStats())


def offer(synthesizer: Synthesizer, sql: str, questions: list[str] | None = None) -> str:
    """'kept', or the reason the candidate was rejected."""
    n = next(_counter)
    candidate = Candidate("test", parse_query(sql), questions or [f"Question {n}?", f"Another question {n}?"])
    before = dict(synthesizer.stats.rejected)
    if synthesizer.offer(candidate):
        return "kept"
    return next(reason for reason, count in synthesizer.stats.rejected.items() if count != before.get(reason, 0))


@pytest.mark.parametrize(
    ("sql", "verdict"),
    [
        ("SELECT name FROM items WHERE price > 5", "kept"),
        ("SELECT name FROM items WHERE price > 0", "filter_keeps_all"),
        ("SELECT name FROM items WHERE price > 100", "empty"),
        ("SELECT COUNT(*) FROM items WHERE price > 100", "zero"),
        ("SELECT name, NULL FROM items", "null_column"),
        ("SELECT kind FROM items WHERE kind = 'x'", "constant"),
        ("SELECT name FROM items ORDER BY price ASC LIMIT 1", "kept"),
        ("SELECT name FROM items ORDER BY price DESC LIMIT 1", "tie"),
        ("SELECT name FROM items ORDER BY price LIMIT 4", "limit_keeps_all"),
        ("SELECT name FROM items WHERE id = 2 ORDER BY price", "sorted_one_row"),
        ("SELECT kind, COUNT(*) FROM items GROUP BY kind", "constant_aggregate"),
        ("SELECT kind FROM items GROUP BY kind HAVING COUNT(*) > 1", "having_keeps_all"),
        ("SELECT kind FROM items GROUP BY kind HAVING AVG(price) > 6", "kept"),
        ("SELECT DISTINCT kind FROM items WHERE price > 5", "filter_changes_nothing"),
        ("SELECT name FROM items WHERE kind = 'x' UNION SELECT name FROM items WHERE price = 5", "set_same_as_side"),
        ("SELECT name FROM items WHERE kind = 'x' UNION SELECT name FROM items WHERE price = 7", "kept"),
        ("SELECT name FROM items WHERE kind = 'x' EXCEPT SELECT name FROM items WHERE kind = 'y'", "except_removes_nothing"),
        ("SELECT name FROM items WHERE kind = 'x' INTERSECT SELECT name FROM items WHERE price > 5", "kept"),
        ("SELECT name FROM items WHERE kind = 'x' INTERSECT SELECT name FROM items WHERE price < 6", "set_same_as_side"),
        ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", "timeout"),
        ("SELECT missing FROM items", "error"),
    ],
)
def test_verdicts(synthesizer, sql, verdict):
    assert offer(synthesizer, sql) == verdict


def test_the_same_sql_is_run_once_and_one_question_is_not_enough(synthesizer):
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5") == "kept"
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5") == "duplicate_sql"
    assert offer(synthesizer, "SELECT name FROM items WHERE price < 7", ["Only one?"]) == "few_questions"


def test_equal_results_collapse_into_one_example(synthesizer):
    assert offer(synthesizer, "SELECT name FROM items WHERE price >= 6 AND price <= 7", ["Items from 6 to 7?", "Which cost 6-7?"]) == "kept"
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5", ["Items above 5?", "Which cost over 5?"]) == "merged_duplicate"
    [kept] = [k.example for k in synthesizer.kept]
    assert kept.sql == "SELECT name FROM items WHERE price > 5"  # the shorter SQL stays
    assert kept.questions == ["Items from 6 to 7?", "Which cost 6-7?", "Items above 5?", "Which cost over 5?"]
    assert synthesizer.stats.merged == 1


def test_sorted_and_unsorted_lists_or_single_values_stay_apart(synthesizer):
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5") == "kept"
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5 ORDER BY price") == "kept"
    assert offer(synthesizer, "SELECT COUNT(*) FROM items WHERE kind = 'x'") == "kept"
    assert offer(synthesizer, "SELECT COUNT(*) FROM items WHERE kind = 'y'") == "kept"  # 2 and 2: a coincidence
    assert len(synthesizer.kept) == 4


def test_a_question_already_asked_is_not_reused(synthesizer):
    assert offer(synthesizer, "SELECT name FROM items WHERE price > 5", ["Which items?", "What items?"]) == "kept"
    assert offer(synthesizer, "SELECT name FROM items WHERE price < 7", ["Which items?", "What items?"]) == "question_clash"
    assert offer(synthesizer, "SELECT name FROM items WHERE price < 6", ["Which items?", "Name them?", "List them."]) == "kept"
    assert synthesizer.kept[-1].example.questions == ["Name them?", "List them."]
