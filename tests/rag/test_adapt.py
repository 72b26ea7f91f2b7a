"""Retrieve, then adapt (rag.adapt) on the grounded test fixtures (never the held-out benchmark set).

Each adapted query is checked against the database itself: its result must equal the result of
the query a person would write for the question."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fixtures.grounded.databases import make_big, make_odd, make_school, make_warehouse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.adapt import AdaptLimits, adapt, candidates
from rag.documents import Document
from rag.execution import results_match
from rag.index import Hit
from rag.masking import vocabulary_of
from rag.sandbox import ReadOnlyDatabase
from rag.sqltools import parse_sqlite


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory):
    path = make_school(tmp_path_factory.mktemp("adapt") / "school.sqlite")
    with ReadOnlyDatabase.open(path) as database:
        yield database, vocabulary_of(database)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory):
    path = make_warehouse(tmp_path_factory.mktemp("adapt") / "warehouse.sqlite")
    with ReadOnlyDatabase.open(path) as database:
        yield database, vocabulary_of(database)


def hit(sql: str, question: str = "a stored question", score: float = 0.8, rank: int = 0, id_: str = "ex-1") -> Hit:
    return Hit(Document(id=id_, text=question, question=question, sql=sql, db="school", context="", metadata={}), score, rank)


def same_result(database: ReadOnlyDatabase, sql: str, gold: str) -> bool:
    ordered = "ORDER BY" in gold.upper()
    return results_match(database.execute(gold), database.execute(sql), ordered=ordered)


CASES = [
    # (question, the stored example's SQL, the SQL that answers the question, the edit kind expected)
    (
        "How many students live in Porto?",
        "SELECT COUNT(*) FROM students WHERE city = 'Lisbon'",
        "SELECT COUNT(*) FROM students WHERE city = 'Porto'",
        "value",
    ),
    ("How many students are there?", "SELECT COUNT(*) FROM students WHERE city = 'Lisbon'", "SELECT COUNT(*) FROM students", "filter"),
    ("How many students live in Osaka?", "SELECT COUNT(*) FROM students", "SELECT COUNT(*) FROM students WHERE city = 'Osaka'", "filter"),
    (
        "How many students enrolled after 2021?",
        "SELECT COUNT(*) FROM students WHERE enrollment_year > 2019",
        "SELECT COUNT(*) FROM students WHERE enrollment_year > 2021",
        "value",
    ),
    ("What is the average gpa of the students?", "SELECT MAX(gpa) FROM students", "SELECT AVG(gpa) FROM students", "aggregate"),
    ("What is the highest salary of a teacher?", "SELECT AVG(salary) FROM teachers", "SELECT MAX(salary) FROM teachers", "aggregate"),
    ("How many teachers are there?", "SELECT COUNT(*) FROM students", "SELECT COUNT(*) FROM teachers", "table"),
    (
        "Which student has the lowest gpa?",
        "SELECT full_name FROM students ORDER BY gpa DESC LIMIT 1",
        "SELECT full_name FROM students ORDER BY gpa ASC LIMIT 1",
        "order",
    ),
    (
        "What is the average budget of the departments?",
        "SELECT AVG(founded) FROM departments",
        "SELECT AVG(budget) FROM departments",
        "column",
    ),
]


@pytest.mark.parametrize(("question", "sketch", "gold", "kind"), CASES, ids=[c[3] + ":" + c[0][:30] for c in CASES])
def test_adapts_the_sketch_to_the_question(school, question: str, sketch: str, gold: str, kind: str) -> None:
    database, vocabulary = school
    assert not same_result(database, sketch, gold), "the stored example must not already answer the question"
    chosen = adapt(question, [hit(sketch)], database, vocabulary)
    assert chosen is not None and chosen.edits, f"no adaptation of {sketch!r}"
    assert kind in {e.kind for e in chosen.edits}
    assert chosen.from_id == "ex-1"
    assert same_result(database, chosen.sql, gold), f"{chosen.sql!r} does not answer {question!r}"
    assert chosen.to_json()["edits"] and all("→" in e for e in chosen.to_json()["edits"])


def test_a_right_sketch_is_kept_as_it_is(school) -> None:
    database, vocabulary = school
    sketch = "SELECT COUNT(*) FROM students WHERE city = 'Lisbon'"
    chosen = adapt("How many students live in Lisbon?", [hit(sketch)], database, vocabulary)
    assert chosen is not None and chosen.edits == () and chosen.sql == sketch


def test_a_value_the_database_does_not_hold_is_not_invented(school) -> None:
    """ "Atlantis" is no city of this database: no filter on it, and nothing written into the SQL."""
    database, vocabulary = school
    sketch = "SELECT COUNT(*) FROM students"
    for sql, edits in candidates("How many students live in Atlantis?", sketch, vocabulary):
        assert "atlantis" not in sql.lower(), (sql, edits)


def test_an_adaptation_with_an_empty_result_is_not_chosen(warehouse) -> None:
    """The question's colour exists nowhere in a table the sketch reads: the filtered count would
    be 0, which is degenerate; the search falls back to a candidate with a real result."""
    database, vocabulary = warehouse
    sketch = "SELECT COUNT(*) FROM suppliers"
    chosen = adapt("How many suppliers are there in black?", [hit(sketch)], database, vocabulary)
    assert chosen is not None
    assert database.execute(chosen.sql).rows != [(0,)]


def test_later_sketches_compete_only_through_their_adaptations(school) -> None:
    database, vocabulary = school
    hits = [
        hit("SELECT COUNT(*) FROM teachers", "How many teachers are there?", 0.9, 0, "a"),
        hit("SELECT COUNT(*) FROM students WHERE city = 'Lisbon'", "How many students live in Lisbon?", 0.85, 1, "b"),
    ]
    chosen = adapt("How many students live in Quito?", hits, database, vocabulary)
    assert chosen is not None
    assert same_result(database, chosen.sql, "SELECT COUNT(*) FROM students WHERE city = 'Quito'")


def test_odd_names_quotes_spaces_and_unicode(tmp_path: Path) -> None:
    path = make_odd(tmp_path / "odd.sqlite")
    with ReadOnlyDatabase.open(path) as database:
        vocabulary = vocabulary_of(database)
        sketches = [
            'SELECT COUNT(*) FROM "Order Details"',
            'SELECT AVG("Unit Price") FROM "Order Details"',
            'SELECT "prénom" FROM "Größe" WHERE "città" = \'Roma\'',
            'SELECT COUNT(*) FROM "order"',
        ]
        for sketch in sketches:
            for question in (
                "What is the average Qty of the order details?",
                "How many Größe are there?",
                "List the prénom of Größe in Milano",
                "How many 'order' rows have \"hi\"?",
            ):
                started = time.monotonic()
                chosen = adapt(question, [hit(sketch)], database, vocabulary)
                assert time.monotonic() - started < 5
                assert chosen is not None
                parse_sqlite(chosen.sql)
                database.execute(chosen.sql)  # every chosen candidate runs


def test_thousands_of_distinct_values_stay_within_the_budget(tmp_path: Path) -> None:
    """make_big: a million-row table; sampling is bounded and the search stops at its budget."""
    path = make_big(tmp_path / "big.sqlite")
    with ReadOnlyDatabase.open(path, timeout_s=5.0) as database:
        vocabulary = vocabulary_of(database)
        started = time.monotonic()
        chosen = adapt(
            "How many events of holder 777 in Chile are there above 12345?",
            [hit("SELECT COUNT(*) FROM events WHERE kind = 'view'")],
            database,
            vocabulary,
            AdaptLimits(budget_s=1.0),
        )
        assert time.monotonic() - started < 5
        assert chosen is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    question=st.text(min_size=1, max_size=120), sketch=st.sampled_from([c[1] for c in CASES] + ["SELEC nonsense", "SELECT 1; DROP TABLE x"])
)
def test_candidates_never_raise_and_always_parse(school, question: str, sketch: str) -> None:
    _, vocabulary = school
    out = candidates(question, sketch, vocabulary)
    assert out[0] == (sketch, ())
    for sql, edits in out[1:]:
        assert edits
        parse_sqlite(sql)


def test_a_grouping_the_question_does_not_ask_for_is_removed(school) -> None:
    database, vocabulary = school
    sketch = "SELECT city, AVG(gpa) FROM students GROUP BY city"
    chosen = adapt("What is the average gpa of a student?", [hit(sketch)], database, vocabulary)
    assert chosen is not None and "grouping" in {e.kind for e in chosen.edits}
    assert same_result(database, chosen.sql, "SELECT AVG(gpa) FROM students")
    kept = adapt("What is the average gpa in each city?", [hit(sketch)], database, vocabulary)
    assert kept is not None and kept.sql == sketch
