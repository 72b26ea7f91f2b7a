"""The FAISS index: build, search, filter by database, persist atomically, refuse mismatches."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from rag.corpus import Example
from rag.errors import IndexStoreError
from rag.index import VectorIndex


def _examples() -> list[Example]:
    rows = [
        ("a1", "How many books are there?", "SELECT count(*) FROM books", "shop"),
        ("a2", "List all authors", "SELECT name FROM authors", "shop"),
        ("b1", "How many patients are there?", "SELECT count(*) FROM patients", "clinic"),
        ("b2", "Which doctors work in cardiology?", "SELECT name FROM doctors WHERE dept = 'cardio'", "clinic"),
    ]
    return [Example(id=i, question=q, sql=s, db_id=d, context="CREATE TABLE x (a INT);") for i, q, s, d in rows]


@pytest.fixture(scope="module")
def small_index(encoder) -> VectorIndex:
    return VectorIndex.build(_examples(), encoder, "question_sql", corpus="test", show_progress=False)


def test_search_ranks_the_paraphrase_first(small_index, encoder):
    [hits] = small_index.search(encoder.encode(["count the books"]), 2)
    assert hits[0].document.id == "a1"
    assert hits[0].score >= hits[1].score
    assert abs(hits[0].score - float(encoder.encode(["count the books"])[0] @ encoder.encode([hits[0].document.text])[0])) < 1e-4


def test_filter_by_database(small_index, encoder):
    [hits] = small_index.search(encoder.encode(["count the books"]), 3, db="clinic")
    assert {h.document.db for h in hits} == {"clinic"} and len(hits) == 2
    assert small_index.search(encoder.encode(["x"]), 3, db="unknown") == [[]]
    assert small_index.search(encoder.encode(["x"]), 0) == [[]]


def test_save_load_roundtrip_is_atomic(small_index, encoder, tmp_path):
    target = tmp_path / "idx"
    small_index.save(target)
    assert sorted(p.name for p in target.iterdir()) == ["docs.jsonl", "index.faiss", "manifest.json"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["idx"]
    assert target.is_symlink() and not list(tmp_path.glob(".idx.*.tmp"))  # a version switched in, no staging left
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["count"] == 4 and manifest["dimension"] == 384 and manifest["template"] == "question_sql"
    assert manifest["embedder_fingerprint"] == encoder.fingerprint
    loaded = VectorIndex.load(target, encoder)
    query = encoder.encode(["which doctors are cardiologists"])
    assert [h.document.id for h in loaded.search(query, 4)[0]] == [h.document.id for h in small_index.search(query, 4)[0]]
    small_index.save(target)  # overwriting an existing index swaps directories
    assert VectorIndex.load(target, encoder).manifest["count"] == 4


def test_add_without_rebuild(encoder, tmp_path):
    index = VectorIndex.build(_examples(), encoder, "question_sql", show_progress=False)
    [doc] = index.add(
        [Example(id="a3", question="Show the cheapest book", sql="SELECT min(price) FROM books", db_id="shop", context="")], encoder
    )
    assert index.index.ntotal == 5 and index.manifest["count"] == 5
    [hits] = index.search(encoder.encode(["show the cheapest book"]), 1, db="shop")
    assert hits[0].document.id == "a3"
    index.save(tmp_path / "grown")
    assert VectorIndex.load(tmp_path / "grown", encoder).index.ntotal == 5


@dataclass
class _OtherEncoder:
    name: str = "other"
    fingerprint: str = "ffffffffffffffff"
    dimension: int = 384

    def encode(self, texts, **_):
        return np.zeros((len(texts), 384), dtype=np.float32)


def test_mismatched_embedder_and_corrupt_files(small_index, tmp_path):
    target = small_index.save(tmp_path / "idx")
    with pytest.raises(IndexStoreError, match="built with embedder"):
        VectorIndex.load(target, _OtherEncoder())
    (target / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexStoreError, match="corrupt FAISS index"):
        VectorIndex.load(target)
    small_index.save(target)
    (target / "docs.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(IndexStoreError, match="corrupt documents"):
        VectorIndex.load(target)
    small_index.save(target)
    (target / "manifest.json").write_text("{")
    with pytest.raises(IndexStoreError, match="corrupt index manifest"):
        VectorIndex.load(target)
    (target / "manifest.json").unlink()
    with pytest.raises(IndexStoreError, match="incomplete"):
        VectorIndex.load(target)


def test_empty_corpus_is_refused(encoder):
    with pytest.raises(IndexStoreError, match="empty corpus"):
        VectorIndex.build([], encoder, "question_sql")


@dataclass
class _CountingEncoder:
    """Wraps the session encoder and records which texts it embedded."""

    inner: object
    seen: list

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts, **options):
        self.seen.extend(texts)
        return self.inner.encode(texts, **options)


def test_a_rebuild_embeds_only_new_documents(small_index, encoder):
    """Documents are keyed by their text's hash: unchanged ones keep their vectors from the previous index."""
    counting = _CountingEncoder(encoder, [])
    grown = _examples() + [
        Example(id="a3", question="Show the cheapest book", sql="SELECT min(price) FROM books", db_id="shop", context="")
    ]
    rebuilt = VectorIndex.build(grown, counting, "question_sql", show_progress=False, previous=small_index)
    assert len(counting.seen) == 1 and counting.seen[0].startswith("QUESTION: Show the cheapest book")
    assert rebuilt.manifest["embedded"] == 1 and rebuilt.manifest["count"] == 5
    fresh = VectorIndex.build(grown, encoder, "question_sql", show_progress=False)
    assert np.allclose(rebuilt.index.reconstruct_n(0, 5), fresh.index.reconstruct_n(0, 5), atol=1e-5)
    other = VectorIndex.build(_examples(), _CountingEncoder(_OtherEncoder(), []), "question_sql", show_progress=False, previous=small_index)
    assert other.manifest["embedded"] == 4  # another encoder's vectors are never reused


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_search_save_reuse_and_filter_exactly(kind, encoder, tmp_path):
    """IVF and HNSW (chosen by size for millions of vectors) keep search, the database filter, saves and reuse working."""
    extra = [Example(id=f"n{i}", question=f"noise question {i}", sql=f"SELECT {i}", db_id="noise", context="") for i in range(120)]
    examples = _examples() + extra
    index = VectorIndex.build(examples, encoder, "question_sql", kind=kind, show_progress=False)
    assert index.manifest["faiss"]["kind"] == kind
    query = encoder.encode(["how many patients are there"])
    [hits] = index.search(query, 2, db="clinic")  # exact within one database, however the index approximates
    assert [h.document.id for h in hits] == ["b1", "b2"]
    target = index.save(tmp_path / kind)
    loaded = VectorIndex.load(target, encoder)
    assert [h.document.id for h in loaded.search(query, 1)[0]] == ["b1"]
    counting = _CountingEncoder(encoder, [])
    rebuilt = VectorIndex.build(examples, counting, "question_sql", kind=kind, show_progress=False, previous=loaded)
    assert counting.seen == [] and np.allclose(rebuilt.index.reconstruct_n(0, 4), index.index.reconstruct_n(0, 4), atol=1e-6)


def test_auto_kind_is_flat_for_small_corpora(small_index):
    assert small_index.manifest["faiss"] == {"kind": "flat"}


def test_a_question_asked_before_is_retrieved_first(encoder):
    from rag.retriever import ExampleRetriever

    long_sql = (
        "WITH s AS (SELECT b.title, SUM(i.qty) AS sold FROM items i JOIN books b ON b.id = i.book_id GROUP BY b.id) " * 3
        + "SELECT * FROM s"
    )
    rows = [
        Example(id="long", question="What is the best-selling book?", sql=long_sql, db_id="shop", context=""),
        Example(
            id="short", question="What are the best-selling books of all time?", sql="SELECT title FROM books", db_id="shop", context=""
        ),
        Example(id="other", question="What is the best-selling book?", sql="SELECT 1", db_id="elsewhere", context=""),
    ]
    index = VectorIndex.build(rows, encoder, "question_sql", corpus="test", show_progress=False)
    retriever = ExampleRetriever(index=index, encoder=encoder, k=2)
    hits = retriever.search("what is the BEST-SELLING book", 2, "shop")
    assert [h.document.id for h in hits] == ["long", "short"]  # word for word (case, punctuation aside), its own database only
    vector = encoder.encode(["what is the BEST-SELLING book"])[0]
    assert abs(hits[0].score - float(vector @ encoder.encode([index.documents[0].text])[0])) < 1e-4  # its real similarity
    assert index.same_question(vector, "What is the best-selling book", None)[0].document.id in {"long", "other"}
    assert index.same_question(vector, "What is the best book?", "shop") == []
