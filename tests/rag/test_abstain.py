"""rag.abstain: the evidence knn's abstention weighs (literal values, margins) on small cases."""

from __future__ import annotations

import pytest

from rag.abstain import (
    Evidence,
    confidence,
    gather,
    question_literals,
    question_stems,
    same_question,
    schema_stems,
    shape_agreement,
    sql_literals,
)
from rag.documents import Document
from rag.index import Hit


def _hit(question: str, sql: str, score: float, rank: int = 0) -> Hit:
    return Hit(Document(id=f"d{rank}", text=question, question=question, sql=sql, db="db", context="", metadata={}), score, rank)


def test_literals_of_sql_and_questions() -> None:
    assert sql_literals("SELECT name FROM c WHERE city = 'Paris' AND age > 30 LIMIT 5") == ["Paris", "30"]
    assert sql_literals("SELECT * FROM t WHERE name LIKE 'Ra%' AND note = 'it''s'") == ["Ra%", "it's"]
    assert question_literals('Which customers from "New York" spent more than 1,200 in 2023?') == ["New York", "1200", "2023"]


def test_values_the_question_does_not_mention_are_counted() -> None:
    sql = "SELECT COUNT(*) FROM orders WHERE city = 'Paris' AND year = 2023"
    same = gather("How many orders came from Paris in 2023?", [_hit("Orders from Paris in 2023?", sql, 0.9)])
    other = gather("How many orders came from Berlin in 2024?", [_hit("Orders from Paris in 2023?", sql, 0.9)])
    assert (same.sql_literals, same.question_literals) == (1.0, 1.0)
    assert (other.sql_literals, other.question_literals) == (0.0, 0.0)
    assert confidence(same) > confidence(other)  # the question's own year is missing from the SQL


def test_a_stored_question_word_for_word_is_recognised() -> None:
    assert same_question("How many pets are there?", "how many PETS are there")
    assert not same_question("How many pets are there?", "How many pets were there?")


def test_margin_counts_only_rivals_with_other_sql() -> None:
    hits = [
        _hit("How many pets?", "SELECT COUNT(*) FROM pets", 0.80, 0),
        _hit("Number of pets?", "SELECT count(*)  FROM pets", 0.78, 1),  # a paraphrase: same query
        _hit("How many owners?", "SELECT COUNT(*) FROM owners", 0.60, 2),
    ]
    evidence = gather("How many pets do we have?", hits)
    assert abs(evidence.margin - 0.20) < 1e-9
    assert gather("anything", []) is None


def test_confidence_grows_with_each_signal() -> None:
    base = Evidence(similarity=0.5, margin=0.05, sql_literals=0.5, question_literals=0.5, sql_words=0.5, question_words=0.5, shape=0.5)
    for field in ("similarity", "margin", "question_literals", "sql_words", "question_words", "shape"):
        better = Evidence(**{**base.to_dict(), field: getattr(base, field) + 0.3})
        assert confidence(better) > confidence(base), field


def test_schema_words_of_sql_and_questions() -> None:
    sql = "SELECT p.full_name AS who, COUNT(v.visitId) AS n FROM Patients p JOIN visits v ON v.patient_id = p.id GROUP BY who ORDER BY n"
    assert schema_stems(sql) == {"full", "name", "visit", "patien"}  # aliases and `id` aside, split and singular
    assert schema_stems("SELECT 'x' FROM") == set()  # does not parse: no words, no error
    assert question_stems("How many categories does each shop list?") == {"catego", "shop"}  # "does", "each", "list": stop words
    assert schema_stems('SELECT "Straße" FROM "Kunden Liste"') == {"straße", "kunden", "liste"}


def test_a_question_about_a_column_the_sql_never_reads_is_weaker() -> None:
    hits = [
        _hit("How many authors wrote more than 2 books?", "SELECT COUNT(*) FROM authors WHERE book_count > 2", 0.7, 0),
        _hit("Which author has the earliest birth year?", "SELECT name FROM authors ORDER BY birth_year LIMIT 1", 0.6, 1),
    ]
    fits = gather("How many authors have more than 2 books?", hits)
    misses = gather("Which author has the smallest birth year?", hits)
    assert fits.question_words == 1.0 and fits.sql_words == 1.0
    assert misses.question_words < 1.0  # 'birth' and 'year' are this database's words, unused by the top SQL


@pytest.mark.parametrize(
    ("question", "sql", "agreement"),
    [
        ("How many students are there?", "SELECT COUNT(*) FROM students", 1.0),
        ("List the names of all departments.", "SELECT name FROM departments", 1.0),  # no cue, no operation
        ("What is the total number of orders?", "SELECT COUNT(*) FROM orders", 1.0),  # "total" may count
        ("How many parts does each supplier provide?", "SELECT supplier_id, COUNT(*) FROM parts GROUP BY supplier_id", 1.0),
        ("Which supplier has the highest rating?", "SELECT company FROM suppliers ORDER BY rating DESC LIMIT 1", 1.0),
        ("What is the highest score?", "SELECT MAX(score) FROM enrollments", 1.0),
        ("What is the average GPA of students?", "SELECT city, AVG(gpa) FROM students GROUP BY city", 0.5),  # grouped, not asked
        ("Which supplier has the highest rating?", "SELECT MAX(rating) FROM suppliers", 0.0),  # a value, not the row asked for
        ("What is the total capacity of all bins?", "SELECT DISTINCT capacity FROM bins", 0.0),
        (
            "Which customers requested a better interest rate?",
            "SELECT name FROM customers WHERE note = 'how many'",
            1.0,
        ),  # quoted text is no operation
    ],
)
def test_the_sql_does_what_the_wording_asks(question: str, sql: str, agreement: float) -> None:
    assert shape_agreement(question, sql) == agreement
