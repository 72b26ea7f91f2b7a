"""The retriever over a `VectorIndex`: top-k examples, optionally for one database only.

The chain calls `search` (hits with scores). `as_langchain()` wraps it as a LangChain
`BaseRetriever` for a user's own LCEL chain: `.invoke(question)` returns Documents whose metadata
carries the example's id, score, question, SQL and database. LangChain is imported only then:
importing it costs about a second, which an answer from retrieval alone (knn) need not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.index import Hit, VectorIndex

# Examples a person wrote or confirmed outrank synthesized ones when they are this close in
# similarity (cosine); a few extra candidates are fetched so the preference can reorder the top k.
PERSON_BONUS = 0.01
PERSON_CANDIDATES = 5


@dataclass
class ExampleRetriever:
    """Embeds the question and returns the k most similar stored examples.

    `db` restricts the search to one database's examples when the store holds several; a
    database without examples of its own falls back to the whole store (another schema's
    examples still show the model how questions map to SQL). A stored question that is word for
    word the one asked comes first; at (nearly) equal similarity an example a person wrote or
    saved comes before a synthesized one.
    """

    index: VectorIndex
    encoder: Any
    k: int = 3
    db: str | None = None

    def as_langchain(self) -> Any:
        """This retriever as a LangChain `BaseRetriever` (k and db as set here)."""
        from langchain_core.retrievers import BaseRetriever

        search, k, db = self.search, self.k, self.db

        class LangChainExampleRetriever(BaseRetriever):
            def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Any]:
                return [to_langchain(hit) for hit in search(query, k, db)]

        return LangChainExampleRetriever()

    def search(self, query: str, k: int, db: str | None = None) -> list[Hit]:
        if k <= 0:
            return []
        vector = self.encoder.encode([query])
        scope = db if self.has_examples(db) else None
        candidates = self.index.search(vector, k + PERSON_CANDIDATES, db=scope)[0]
        ranked = sorted(candidates, key=lambda hit: -(hit.score + (PERSON_BONUS if is_person_written(hit) else 0.0)))
        if scope is not None:  # the same question asked before comes first, whatever its SQL does to the embedding
            same = self.index.same_question(vector[0], query, scope)
            if same:
                seen = {hit.document.id for hit in same}
                ranked = [*same, *(hit for hit in ranked if hit.document.id not in seen)]
        return [Hit(hit.document, hit.score, rank) for rank, hit in enumerate(ranked[:k])]

    def has_examples(self, db: str | None) -> bool:
        """Whether the index holds examples of database `db` (else retrieval falls back to all of them)."""
        return db is not None and db in self.index.dbs


def is_person_written(hit: Hit) -> bool:
    """Taught, hand-written or saved examples (not synthesized ones)."""
    return hit.document.metadata.get("origin") in ("person", "saved")


def to_langchain(hit: Hit) -> Any:
    """A hit as a LangChain Document (metadata: id, score, rank, question, sql, db)."""
    from langchain_core.documents import Document as LCDocument

    doc = hit.document
    return LCDocument(
        page_content=doc.text,
        metadata={"id": doc.id, "score": hit.score, "rank": hit.rank, "question": doc.question, "sql": doc.sql, "db": doc.db},
    )
