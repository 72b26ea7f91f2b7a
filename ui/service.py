"""The UI's backend: one `TextToSQL` service (built by `TextToSQL.from_settings`) shared by every session.

The encoder and a llama.cpp model each serve one request at a time (their own locks), so the
retrieval of one request overlaps the generation of another. The index is copy-on-write: "save
as example" adds to a copy, saves it, and swaps a new service in, so requests already running
keep a consistent index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import faiss

from rag.chain import Answer, Question, TextToSQL, check_question
from rag.corpus import Example, demo_names, store_examples, stored_example
from rag.databases import DatabaseRef, key_for_schema
from rag.index import VectorIndex, index_path
from rag.registry import ExampleStore, StoredExample
from rag.sandbox import QueryResult
from rag.settings import Settings
from rag.sqltools import validate_user_sql
from ui.sources import PrivateDir, named_database


def copy_index(index: VectorIndex) -> VectorIndex:
    return VectorIndex(
        index=faiss.clone_index(index.index),
        documents=list(index.documents),
        manifest=dict(index.manifest),
        single_query_threads=index.single_query_threads,
    )


class UIService:
    """Everything the handlers need: the chain, the example store and the private upload dir."""

    def __init__(self, chain: TextToSQL, *, index_dir: Path | None = None, default_db: str | None = None) -> None:
        self.settings = chain.settings
        self.chain = chain
        self.default_db = named_database(default_db or self.settings.default_db, self.settings.home)
        self.index_dir = index_dir
        self.store = ExampleStore(self.settings.home)
        self._save_lock = threading.Lock()
        self._restore_saved_examples()
        self.private = PrivateDir()

    @classmethod
    def create(cls, settings: Settings, *, default_db: str | None = None, show_progress: bool = True) -> UIService:
        """Load the encoder, the `default` index (built on first use) and the generator once."""
        chain = TextToSQL.from_settings(settings, corpus="default", show_progress=show_progress)
        try:
            if settings.ui.torch_threads is not None and getattr(chain.encoder, "backend", "") == "torch":
                # Requests encode one short question at a time; on a busy CPU extra intra-op
                # threads mostly spin (measured: ~12 ms CPU per encode with 1, 75-110 ms with 2).
                import torch

                torch.set_num_threads(settings.ui.torch_threads)
            return cls(chain, index_dir=index_path(settings, "default", chain.encoder), default_db=default_db)
        except BaseException:
            chain.close()
            raise

    @property
    def notice(self) -> str | None:
        return self.chain.notice

    # -- databases -------------------------------------------------------------------------

    def demo_names(self) -> list[str]:
        return demo_names()

    def database(self, name_or_path: str) -> DatabaseRef:
        return named_database(name_or_path, self.settings.home)

    def upload(self, path: str | Path, display_name: str | None = None) -> DatabaseRef:
        """An uploaded SQLite file; its examples are keyed by its schema, so `ask --db` on the same file finds them."""
        ref = self.private.add_upload(path, max_bytes=self.settings.ui.max_upload_mb * 2**20, display_name=display_name)
        return replace(ref, key=key_for_schema(ref.schema, self.settings.home))

    def paste_schema(self, script: str) -> DatabaseRef:
        ui = self.settings.ui
        ref = self.private.add_schema(
            script, max_chars=ui.max_schema_chars, max_bytes=ui.max_upload_mb * 2**20, timeout_s=self.settings.execution.timeout_s
        )
        return replace(ref, key=key_for_schema(ref.schema, self.settings.home))

    def example_count(self, db: DatabaseRef) -> int:
        return sum(1 for doc in self.chain.index.documents if doc.db == db.key)

    # -- questions and SQL -----------------------------------------------------------------

    def ask(self, question: str | Question, db: DatabaseRef, *, use_rag: bool = True, k: int | None = None) -> Answer:
        """Retrieve (unless RAG is off), generate, validate and run on `db`."""
        answer: Answer | None = None
        for event in self.stream(question, db, use_rag=use_rag, k=k):
            answer = event if isinstance(event, Answer) else answer
        assert answer is not None
        return answer

    def stream(self, question: str | Question, db: DatabaseRef, *, use_rag: bool = True, k: int | None = None) -> Iterator[str | Answer]:
        """Like `ask`, yielding the generated text as it grows, then the Answer."""
        chain = self.chain  # a save may swap in a new index meanwhile: this request keeps its own
        k = (self.settings.retrieval.k if k is None else int(k)) if use_rag else 0
        with db.open(self.settings) as database:
            yield from chain.stream(question, database, db_key=db.key, schema=db.schema, k=k)

    def run_sql(self, sql: str, db: DatabaseRef) -> QueryResult:
        """SQL a person typed or edited: one read-only statement, run in the sandbox; one time limit
        covers parsing, running and fetching."""
        started = time.monotonic()
        statement = validate_user_sql(sql, max_chars=self.settings.execution.max_sql_chars)
        with db.open(self.settings) as database:
            return database.execute(statement, started=started)

    def save_example(self, question: str, sql: str, db: DatabaseRef) -> tuple[Example, bool]:
        """Store a confirmed question → SQL in the database's store (rag.registry, shared with the
        CLI) and make it retrievable at once. The SQL must validate and run. Returns the example
        and whether it was new."""
        question = check_question(question, self.settings.max_question_chars)
        statement = validate_user_sql(sql)
        with db.open(self.settings) as database:
            database.execute(statement, max_rows=1)
        stored = StoredExample.make(db.key, question, statement, "saved")
        example = stored_example(stored, db.key, db.path if db.kind in ("demo", "registered", "file") else None)
        with self._save_lock:
            if not self.store.add(db.key, [stored]):
                return example, False
            self._publish([example])
        return example, True

    # -- internals -------------------------------------------------------------------------

    def _publish(self, examples: list[Example]) -> None:
        """Add to a copy of the index, persist it, then swap in a chain over the copy."""
        index = copy_index(self.chain.index)
        index.add(examples, self.chain.encoder)
        if self.index_dir is not None:
            index.save(self.index_dir)
        self.chain = self.chain.with_index(index)

    def _restore_saved_examples(self) -> None:
        """Stored examples missing from the index (saved since it was built) go in."""
        known = {doc.id for doc in self.chain.index.documents}
        missing = {ex.id: ex for ex in store_examples(self.settings.home) if ex.id not in known}
        if missing:
            self._publish(list(missing.values()))

    def close(self) -> None:
        self.chain.close()
        self.private.close()

    def __enter__(self) -> UIService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
