"""The UI's backend: one `TextToSQL` chain loaded at start and shared by every session.

The encoder and the generator are called by one request at a time (llama.cpp is not
thread-safe, and a fast tokenizer shared across threads can fail with "Already borrowed"):
each sits behind its own lock, so retrieval of one request overlaps generation of another.
The index is copy-on-write: "save as example" adds to a copy, saves it, and swaps a new chain
in, so requests already running keep a consistent index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

import faiss
import numpy as np
from langchain_core.prompt_values import PromptValue

from rag.chain import Answer, TextToSQL, check_question
from rag.corpus import Example, demo_names
from rag.encoders import Encoder
from rag.encoders import encoder_from_settings as encoder_from_settings
from rag.generators import Generator, make_generator
from rag.index import Hit, VectorIndex, get_index, index_path
from rag.sandbox import QueryResult
from rag.settings import Settings
from rag.sqltools import validate_user_sql
from ui.sources import DbChoice, PrivateDir, named_database
from ui.store import ExampleStore, example_id


@dataclass
class SerialEncoder:
    """An encoder that encodes for one caller at a time."""

    inner: Encoder
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        with self._lock:
            return self.inner.encode(texts, **kwargs)


class SerialGenerator(Generator):
    """A generator that answers one prompt at a time."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.uses_prompt = inner.uses_prompt
        self._lock = threading.Lock()

    def generate(self, prompt: PromptValue, hits: list[Hit], db: str | None) -> str:
        with self._lock:
            return self.inner.generate(prompt, hits, db)

    def generate_streaming(self, prompt: PromptValue, hits: list[Hit], db: str | None, on_text: Callable[[str], None]) -> str:
        with self._lock:
            return self.inner.generate_streaming(prompt, hits, db, on_text)

    def close(self) -> None:
        self.inner.close()


def copy_index(index: VectorIndex) -> VectorIndex:
    return VectorIndex(
        index=faiss.clone_index(index.index),
        documents=list(index.documents),
        manifest=dict(index.manifest),
        single_query_threads=index.single_query_threads,
    )


class UIService:
    """Everything the handlers need: the chain, the example store and the private upload dir."""

    def __init__(
        self,
        settings: Settings,
        encoder: Encoder,
        index: VectorIndex,
        generator: Generator,
        *,
        notice: str | None = None,
        index_dir: Path | None = None,
        default_db: str | None = None,
    ) -> None:
        self.settings = settings
        self.default_db = named_database(default_db or settings.default_db, settings.home)
        self.notice = notice
        self.index_dir = index_dir
        self.encoder = SerialEncoder(encoder)
        self.generator = SerialGenerator(generator)
        self.store = ExampleStore(settings.home / "examples")
        self._save_lock = threading.Lock()
        self.chain = TextToSQL(settings, index, self.encoder, self.generator)
        self._restore_saved_examples()
        self.private = PrivateDir()

    @classmethod
    def create(cls, settings: Settings, *, default_db: str | None = None, show_progress: bool = True) -> UIService:
        """Load the encoder, the `default` index (built on first use) and the generator once."""
        generator, notice = make_generator(settings.generator, settings)
        try:
            encoder = encoder_from_settings(settings)
            index = get_index(settings, encoder, "default", show_progress=show_progress)
            if settings.ui.torch_threads is not None:
                # Requests encode one short question at a time behind a lock; on a busy CPU extra
                # intra-op threads mostly spin (measured: ~12 ms CPU per encode with 1, 75-110 ms with 2).
                import torch

                torch.set_num_threads(settings.ui.torch_threads)
            index_dir = index_path(settings, "default", encoder)
            return cls(settings, encoder, index, generator, notice=notice, index_dir=index_dir, default_db=default_db)
        except BaseException:
            generator.close()
            raise

    # -- databases -------------------------------------------------------------------------

    def demo_names(self) -> list[str]:
        return demo_names()

    def database(self, name_or_path: str) -> DbChoice:
        return named_database(name_or_path, self.settings.home)

    def upload(self, path: str | Path, display_name: str | None = None) -> DbChoice:
        return self.private.add_upload(path, max_bytes=self.settings.ui.max_upload_mb * 2**20, display_name=display_name)

    def paste_schema(self, script: str) -> DbChoice:
        ui = self.settings.ui
        return self.private.add_schema(
            script, max_chars=ui.max_schema_chars, max_bytes=ui.max_upload_mb * 2**20, timeout_s=self.settings.execution.timeout_s
        )

    def example_count(self, db: DbChoice) -> int:
        return sum(1 for doc in self.chain.index.documents if doc.db == db.key)

    # -- questions and SQL -----------------------------------------------------------------

    def ask(self, question: str, db: DbChoice, *, use_rag: bool = True, k: int | None = None, on_text: Callable[[str], None] | None = None) -> Answer:
        """Retrieve (unless RAG is off), generate (`on_text` gets the answer so far while it streams), validate and run on `db`."""
        chain = self.chain
        k = (self.settings.retrieval.k if k is None else int(k)) if use_rag else 0
        with self._open(db) as database:
            return chain.ask(question, db_key=db.key, schema=db.schema, database=database, k=k, on_text=on_text)

    def run_sql(self, sql: str, db: DbChoice) -> QueryResult:
        """SQL a person typed or edited: one read-only statement, run in the sandbox."""
        statement = validate_user_sql(sql)
        with self._open(db) as database:
            return database.execute(statement)

    def save_example(self, question: str, sql: str, db: DbChoice) -> tuple[Example, bool]:
        """Store a confirmed question → SQL and make it retrievable at once.

        The SQL must validate and run. Returns the example and whether it was new."""
        question = check_question(question, self.settings.max_question_chars)
        statement = validate_user_sql(sql)
        with self._open(db) as database:
            database.execute(statement, max_rows=1)
        example = Example(
            id=example_id(db.key, question, statement),
            question=question,
            sql=statement,
            db_id=db.key,
            context=db.schema,
            db_path=db.path if db.kind in ("demo", "file") else None,
            source="ui",
            meta={"saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        )
        with self._save_lock:
            if any(doc.id == example.id for doc in self.chain.index.documents):
                return example, False
            self.store.append(example)
            self._publish([example])
        return example, True

    # -- internals -------------------------------------------------------------------------

    def _open(self, db: DbChoice):
        return db.open(timeout_s=self.settings.execution.timeout_s, max_rows=self.settings.execution.max_rows)

    def _publish(self, examples: list[Example]) -> None:
        """Add to a copy of the index, persist it, then swap in a chain over the copy."""
        index = copy_index(self.chain.index)
        index.add(examples, self.encoder)
        if self.index_dir is not None:
            index.save(self.index_dir)
        self.chain = TextToSQL(self.settings, index, self.encoder, self.generator)

    def _restore_saved_examples(self) -> None:
        """Saved examples missing from the index (it was rebuilt since) go back in."""
        known = {doc.id for doc in self.chain.index.documents}
        missing = {ex.id: ex for ex in self.store.load_all() if ex.id not in known}
        if missing:
            self._publish(list(missing.values()))

    def close(self) -> None:
        self.generator.close()
        self.private.close()

    def __enter__(self) -> UIService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
