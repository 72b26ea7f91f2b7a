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
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import faiss
import numpy as np

from rag.answer import Answer, Question
from rag.api import check_example
from rag.chain import TextToSQL
from rag.corpus import Example, demo_names, load_demo_examples, store_examples, stored_example
from rag.databases import DatabaseRef, key_for_schema
from rag.errors import ConfigError
from rag.generators import make_generator
from rag.index import VectorIndex, index_path, new_faiss_index, stored_vectors
from rag.registry import ExampleStore, Registry, StoredExample
from rag.sandbox import QueryResult
from rag.settings import Settings
from rag.sqltools import validate_user_sql
from ui.guard import NOBODY, ChangeGuard, check_caller, is_loopback
from ui.sources import PrivateDir, named_database


@dataclass(frozen=True)
class ExampleRow:
    """One example of a database as the examples tab lists it. `built_in` examples ship with a demo
    database (read-only); the rest live in its store, shared with `coderag db teach / show`."""

    id: str
    question: str
    sql: str
    origin: str  # person | saved | synth
    created: str = ""
    built_in: bool = False

    @property
    def who(self) -> str:
        if self.built_in:
            return "person (built in)"
        return {"person": "person", "saved": "person (saved in the UI)", "synth": "synthesized"}.get(self.origin, self.origin)


def copy_index(index: VectorIndex) -> VectorIndex:
    return VectorIndex(
        index=faiss.clone_index(index.index),
        documents=list(index.documents),
        manifest=dict(index.manifest),
        single_query_threads=index.single_query_threads,
    )


def without(index: VectorIndex, ids: set[str]) -> VectorIndex:
    """A copy of `index` without the documents `ids` (same vectors, same kind of FAISS index)."""
    keep = np.asarray([i for i, doc in enumerate(index.documents) if doc.id not in ids], dtype=np.int64)
    vectors = stored_vectors(index.index, keep) if len(keep) else np.empty((0, index.index.d), dtype=np.float32)
    faiss_index, params = new_faiss_index(
        np.ascontiguousarray(vectors, dtype=np.float32), index.manifest.get("faiss", {}).get("kind", "auto")
    )
    manifest = {**index.manifest, "count": len(keep), "faiss": params}
    manifest["corpus_fingerprint"] = f"{manifest.get('corpus_fingerprint', '')}-{len(index.documents) - len(keep)}"
    return VectorIndex(
        index=faiss_index, documents=[index.documents[i] for i in keep], manifest=manifest, single_query_threads=index.single_query_threads
    )


def check_server_url(url: str, *, timeout_s: float) -> str:
    """An OpenAI-compatible base URL (http or https, with a host) whose `/models` answers with JSON."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"not an http(s) URL: {url or '(empty)'}", hint="e.g. http://127.0.0.1:8080/v1")
    probe = url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(probe, timeout=timeout_s) as response:  # noqa: S310 (the scheme is checked above)
            json.loads(response.read(1_000_000) or b"null")
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise ConfigError(
            f"no OpenAI-compatible server answers at {url} ({type(exc).__name__})", hint="is it running? the URL usually ends in /v1"
        ) from None
    return url


SESSION_SAVE = "saved in this session"  # the "generator" of an answer from a session's own saved example


class UIService:
    """Everything the handlers need: the chain, the example store and the private upload dir."""

    def __init__(self, chain: TextToSQL, *, index_dir: Path | None = None, default_db: str | None = None) -> None:
        self.settings = chain.settings
        self.chain = chain
        self.default_db = named_database(
            default_db or self.settings.default_db, self.settings.home, allow_privileged_role=self.settings.execution.allow_privileged_role
        )
        self.index_dir = index_dir
        self.store = ExampleStore(self.settings.home)
        # "save as example" writes the shared store only behind a login (attributed to the user) or with
        # ui.allow_shared_save; otherwise a save lasts for the browser session (`launch` decides)
        self.shared_saves = False
        # who may change the model and the shared store through HTTP (`launch` sets the server's own)
        self.guard: ChangeGuard = NOBODY
        self._save_lock = threading.Lock()
        self._retired: list = []  # generators replaced by set_generator, closed at exit
        self._labels: dict[str, str] = {}  # store key -> the name a person gave (file name of an upload)
        self._remember(self.default_db)
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

    def database_names(self) -> list[str]:
        """What the picker offers: the demo databases, then every registered one, by name."""
        demos = demo_names()
        return demos + [r.name for r in Registry(self.settings.home).all() if r.name not in demos]

    def database(self, name_or_path: str) -> DatabaseRef:
        return self._remember(
            named_database(name_or_path, self.settings.home, allow_privileged_role=self.settings.execution.allow_privileged_role)
        )

    def display_name(self, key: str) -> str:
        """A store key as people know the database: its demo or registered name, the file name of
        an upload or --db file seen by this server, never `schema-<fingerprint>`."""
        if key in self._labels:
            return self._labels[key]
        if key.startswith("schema-"):
            return "an unnamed database"
        return key

    def _remember(self, ref: DatabaseRef) -> DatabaseRef:
        if ref.label and ref.key not in self._labels or ref.kind in ("demo", "registered"):
            self._labels[ref.key] = ref.label or ref.key
        return ref

    def upload(self, path: str | Path, display_name: str | None = None) -> DatabaseRef:
        """An uploaded SQLite file; its examples are keyed by its schema, so `ask --db` on the same file finds them."""
        ref = self.private.add_upload(path, max_bytes=self.settings.ui.max_upload_mb * 2**20, display_name=display_name)
        return self._remember(replace(ref, key=key_for_schema(ref.schema, self.settings.home)))

    def paste_schema(self, script: str) -> DatabaseRef:
        ui = self.settings.ui
        ref = self.private.add_schema(
            script, max_chars=ui.max_schema_chars, max_bytes=ui.max_upload_mb * 2**20, timeout_s=self.settings.execution.timeout_s
        )
        ref = replace(ref, key=key_for_schema(ref.schema, self.settings.home))
        return self._remember(replace(ref, label=self.display_name(ref.key) if not ref.key.startswith("schema-") else "pasted schema"))

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

    def stream(
        self, question: str | Question, db: DatabaseRef, *, use_rag: bool = True, k: int | None = None, context: str = ""
    ) -> Iterator[str | Answer]:
        """Like `ask`, yielding the generated text as it grows, then the Answer. `context` (earlier
        turns of the conversation) goes into an LLM's prompt in its own section."""
        chain = self.chain  # a save may swap in a new index meanwhile: this request keeps its own
        k = (self.settings.retrieval.k if k is None else int(k)) if use_rag else 0
        with db.open(self.settings) as database:
            yield from chain.stream(question, database, db_key=db.key, schema=db.schema, k=k, conversation=context)

    def run_sql(self, sql: str, db: DatabaseRef) -> QueryResult:
        """SQL a person typed or edited: one read-only statement, run in the sandbox; one time limit
        covers parsing, running and fetching."""
        started = time.monotonic()
        statement = validate_user_sql(sql, max_chars=self.settings.execution.max_sql_chars, dialect=db.dialect)
        with db.open(self.settings) as database:
            return database.execute(statement, started=started)

    def save_example(
        self, question: str, sql: str, db: DatabaseRef, origin: str = "saved", *, author: str | None = None
    ) -> tuple[Example, bool]:
        """Store a confirmed question → SQL in the database's store (rag.registry, shared with the
        CLI) and make it retrievable at once; `author` (the login that saved it) is kept with it.
        The SQL must validate and run. Returns the example and whether it was new."""
        check_caller("saving to the shared examples")
        stored = self._checked(question, sql, db, origin, meta={"author": author} if author else None)
        example = self._as_example(stored, db)
        with self._save_lock:
            if not self.store.add(db.key, [stored]):
                return example, False
            self._publish([example])
        return example, True

    # -- the examples tab: the same store as `coderag db teach / show` ----------------------

    @property
    def can_edit_examples(self) -> bool:
        """Editing and deleting examples is for the owner: a server on loopback, or behind a login."""
        ui = self.settings.ui
        return ui.login() is not None or is_loopback(ui.host)

    def examples_of(self, db: DatabaseRef) -> list[ExampleRow]:
        """The database's examples: a demo database's built-in ones, then its store's, newest last.
        Examples changed by the CLI meanwhile are brought into the index first."""
        self.sync_with_store()
        rows = []
        if db.kind == "demo":
            rows = [ExampleRow(ex.id, ex.question, ex.sql, "person", built_in=True) for ex in load_demo_examples(db.key)]
        rows += [ExampleRow(e.id, e.question, e.sql, e.origin, e.created) for e in self.store.load(db.key)]
        return rows

    def update_example(self, db: DatabaseRef, example_id: str, question: str, sql: str) -> StoredExample:
        """Replace a stored example by an edited one, re-validated by running it (read-only). The
        edit is a person's: a synthesized example becomes `person`, a saved one stays `saved`."""
        self.check_editable()
        old = self._stored(db, example_id)
        stored = self._checked(question, sql, db, "saved" if old.origin == "saved" else "person")
        if stored.id == old.id:
            return old  # nothing changed
        with self._save_lock:
            if not self.store.swap(db.key, old.id, stored):  # one rewrite under the store's lock (as `db teach` takes)
                raise ConfigError("this example was removed meanwhile, or is in a store file written by an older version; reload the list")
            self._publish([self._as_example(stored, db)], drop={old.id})
        return stored

    def delete_example(self, db: DatabaseRef, example_id: str) -> StoredExample:
        self.check_editable()
        old = self._stored(db, example_id)
        with self._save_lock:
            if not self.store.remove(db.key, {old.id}):
                raise ConfigError("this example is in a store file written by an older version and cannot be deleted here")
            self._publish([], drop={old.id})
        return old

    def sync_with_store(self) -> None:
        """Make the index match the stores: examples taught or removed with the CLI meanwhile."""
        with self._save_lock:
            stored = {ex.id: ex for ex in store_examples(self.settings.home)}
            indexed = {doc.id for doc in self.chain.index.documents if doc.metadata.get("source") == "store"}
            known = {doc.id for doc in self.chain.index.documents}
            missing = [ex for key, ex in stored.items() if key not in known]
            gone = indexed - set(stored)
            if missing or gone:
                self._publish(missing, drop=gone)

    def check_editable(self, what: str = "editing stored examples") -> None:
        if not self.can_edit_examples:
            raise ConfigError(
                f"{what} needs a login on a server others can reach", hint="set CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD"
            )
        check_caller(what)

    # -- the language model ------------------------------------------------------------------

    def set_generator(self, kind: str, value: str) -> str:
        """Answer with a local GGUF file (`kind` "gguf") or an OpenAI-compatible server ("openai")
        from now on, for every session; checked first (the GGUF loads, the server lists its
        models). Only on loopback or behind a login. Returns the generator's name."""
        self.check_editable("changing the language model")
        value = (value or "").strip()
        if kind == "gguf":
            # One message for a missing, unreadable or broken file: the answer never tells which server paths exist.
            unusable = ConfigError(
                f"no GGUF file at {value or '(empty)'} that this server can load",
                hint="give the path of a readable .gguf model file on the server",
            )
            if not value:
                raise unusable
            try:
                generator, _ = make_generator("llm", self.settings, model_path=Path(value).expanduser())
            except Exception:
                raise unusable from None
        elif kind == "openai":
            url = check_server_url(value, timeout_s=min(self.settings.openai.timeout_s, 10.0))
            generator, _ = make_generator("openai", self.settings, base_url=url)
        else:
            raise ConfigError(f"unknown kind of model {kind!r} (gguf or openai)")
        with self._save_lock:
            old = self.chain
            self.chain = TextToSQL(self.settings, old.index, old.encoder, generator)
            self._retired.append(old.generator)  # requests under way still use it; closed at exit
        return generator.name

    def _stored(self, db: DatabaseRef, example_id: str) -> StoredExample:
        found = next((e for e in self.store.load(db.key) if e.id == example_id), None)
        if found is None:
            if db.kind == "demo" and any(ex.id == example_id for ex in load_demo_examples(db.key)):
                raise ConfigError("built-in examples of a demo database cannot be changed; add your own version instead")
            raise ConfigError("that example is no longer stored (removed meanwhile?); reload the list")
        return found

    def session_answer(self, question: str, sql: str, db: DatabaseRef) -> Answer:
        """The answer from an example saved in this browser session (not shared): its SQL, run read-only."""
        started = time.perf_counter()
        answer = Answer(question=question, db=db.key, generator=SESSION_SAVE, k=0, sql=sql, confidence=1.0)
        result = self.run_sql(sql, db)
        answer.columns, answer.rows, answer.truncated = result.columns, [list(r) for r in result.rows], result.truncated
        answer.timings_ms["total"] = (time.perf_counter() - started) * 1000
        return answer

    def check_example(self, question: str, sql: str, db: DatabaseRef) -> StoredExample:
        """The checks of a save without the write (a save kept for one browser session)."""
        return self._checked(question, sql, db, "saved")

    def _checked(self, question: str, sql: str, db: DatabaseRef, origin: str, meta: dict[str, Any] | None = None) -> StoredExample:
        """A question and SQL that pass the checks of `coderag db teach` (rag.api.check_example)."""
        return check_example(question, sql, db, self.settings, author=(meta or {}).get("author"), origin=origin)

    def _as_example(self, stored: StoredExample, db: DatabaseRef) -> Example:
        return stored_example(stored, db.key, db.path if db.kind in ("demo", "registered", "file") and db.url is None else None)

    # -- internals -------------------------------------------------------------------------

    def _publish(self, examples: list[Example], drop: set[str] | None = None) -> None:
        """Add to (and drop from) a copy of the index, persist it, then swap in a chain over the copy."""
        index = copy_index(self.chain.index) if not drop else without(self.chain.index, drop)
        if examples:
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
        for generator in self._retired:
            generator.close()
        self.chain.close()
        self.private.close()

    def __enter__(self) -> UIService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
