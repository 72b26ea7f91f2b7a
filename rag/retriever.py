"""The LangChain retriever over a `VectorIndex`: top-k examples, optionally for one database only.

The chain calls `search` (hits with scores). As a LangChain `BaseRetriever` it also drops into a
user's own LCEL chain: `retriever.invoke(question)` returns Documents whose metadata carries the
example's id, score, question, SQL and database.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.index import Hit, VectorIndex


class ExampleRetriever(BaseRetriever):
    """Embeds the question and returns the k most similar stored examples.

    `db` restricts the search to one database's examples when the store holds several; a
    database without examples of its own falls back to the whole store (another schema's
    examples still show the model how questions map to SQL).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VectorIndex
    encoder: Any
    k: int = 3
    db: str | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [to_langchain(hit) for hit in self.search(query, self.k, self.db)]

    def search(self, query: str, k: int, db: str | None = None) -> list[Hit]:
        if k <= 0:
            return []
        vector = self.encoder.encode([query])
        scope = db if db is not None and db in self.index.dbs else None
        return self.index.search(vector, k, db=scope)[0]


def to_langchain(hit: Hit) -> LCDocument:
    doc = hit.document
    return LCDocument(
        page_content=doc.text,
        metadata={"id": doc.id, "score": hit.score, "rank": hit.rank, "question": doc.question, "sql": doc.sql, "db": doc.db},
    )
