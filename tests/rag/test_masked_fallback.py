"""A database without examples of its own retrieves other databases' examples by masked question
(`retrieval.fallback: masked`): the companion index, its cache, and the chain's use of it."""

from __future__ import annotations

from pathlib import Path

import faiss
import pytest
from fixtures.grounded.databases import make_school

from rag.answer import FALLBACK_NOTICE
from rag.chain import TextToSQL
from rag.corpus import Example
from rag.databases import resolve_db
from rag.documents import MASKED_TEMPLATE
from rag.generators import KnnGenerator
from rag.index import VectorIndex, masked_companion, stored_vectors, with_masked_questions
from rag.masking import mask_question, vocabulary_of
from rag.sandbox import ReadOnlyDatabase

CONTEXT = "CREATE TABLE pets (pet_id INTEGER PRIMARY KEY, species TEXT, age INTEGER); INSERT INTO pets VALUES (1, 'dog', 3);"


def _example(n: int, question: str, sql: str = "SELECT COUNT(*) FROM pets") -> Example:
    return Example(id=f"p{n}", question=question, sql=sql, db_id="pets_db", context=CONTEXT)


def test_only_the_masked_template_masks_and_each_example_uses_its_own_database() -> None:
    examples = [_example(1, "How many pets are older than 5?"), _example(2, "How many dog pets are there?")]
    assert with_masked_questions(examples, "question_sql") is examples
    masked = with_masked_questions(examples, MASKED_TEMPLATE)
    assert [e.meta["masked_question"] for e in masked] == [
        "How many <table> are older than <number>?",
        "How many <value> <table> are there?",
    ]
    assert [e.question for e in masked] == [e.question for e in examples]  # what the user sees is unchanged
    assert with_masked_questions(masked, MASKED_TEMPLATE) == masked  # already masked: left alone


@pytest.fixture
def school(tmp_path: Path) -> Path:
    return make_school(tmp_path / "school.sqlite")


def test_the_companion_is_built_once_saved_and_grows_with_the_plain_index(
    settings, encoder, default_index: VectorIndex, monkeypatch
) -> None:
    first = masked_companion(settings, encoder, default_index)
    assert first.manifest["template"] == MASKED_TEMPLATE and len(first.documents) == len(default_index.documents)
    assert [d.id for d in first.documents] == [d.id for d in default_index.documents]
    assert any(d.text != d.question for d in first.documents)  # masked text embedded, the question kept for display

    builds: list[int] = []
    build = VectorIndex.build.__func__

    def counting(cls, examples, *args, **kwargs):
        builds.append(len(examples))
        return build(cls, examples, *args, **kwargs)

    monkeypatch.setattr(VectorIndex, "build", classmethod(counting))
    again = masked_companion(settings, encoder, default_index)
    assert builds == [] and len(again.documents) == len(first.documents)  # loaded from disk

    grown = VectorIndex(
        index=faiss.IndexFlatIP(default_index.index.d), documents=list(default_index.documents), manifest=dict(default_index.manifest)
    )
    grown.index.add(stored_vectors(default_index.index))
    grown.add([_example(9, "Which pets like to sleep by the warm window after 7?", "SELECT * FROM pets WHERE age > 7")], encoder)
    bigger = masked_companion(settings, encoder, grown)
    assert builds == [len(grown.documents)] and bigger.manifest["embedded"] == 1  # only the new document is embedded


def test_a_question_about_a_database_without_examples_retrieves_by_masked_question(
    settings, encoder, default_index: VectorIndex, school: Path
) -> None:
    question = "How many students are older than 20?"
    with ReadOnlyDatabase.open(school) as database:
        chain = TextToSQL(settings, default_index, encoder, KnnGenerator())
        answer = chain.ask(question, database, db_key="school-new")
        masked = mask_question(question, vocabulary_of(database))
    assert masked == "How many <table> are older than <number>?"
    expected = masked_companion(settings, encoder, default_index).search(encoder.encode([masked]), 3)[0]
    assert [r.id for r in answer.retrieved] == [h.document.id for h in expected]
    assert answer.notice == FALLBACK_NOTICE and all(r.db != "school-new" for r in answer.retrieved)

    plain_settings = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"fallback": "plain"})})
    with ReadOnlyDatabase.open(school) as database:
        plain = TextToSQL(plain_settings, default_index, encoder, KnnGenerator()).ask(question, database, db_key="school-new")
    assert [r.id for r in plain.retrieved] == [h.document.id for h in chain.retriever.search(question, 3, None)]


def test_a_database_with_its_own_examples_never_uses_the_masked_index(settings, encoder, default_index: VectorIndex) -> None:
    chain = TextToSQL(settings, default_index, encoder, KnnGenerator())
    answer = chain.ask_database("How many books are in the catalog?", resolve_db("bookshop", settings.home))
    assert chain._masked is None and answer.notice is None and all(r.db == "bookshop" for r in answer.retrieved)
