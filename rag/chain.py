"""The text-to-SQL chain, as LangChain runnables:

    retrieve → prompt → generate → extract + validate SQL → execute read-only

One chain serves the CLI, the evaluation and the UI. The no-RAG baseline is the same chain
with k=0. A step that fails records a typed error (`Answer.error_kind`) and later steps are
skipped, so a batch run never stops on one bad answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from rag.databases import DatabaseRef
from rag.encoders import Encoder
from rag.errors import ConfigError, SQLError
from rag.generators import Generator
from rag.index import VectorIndex
from rag.prompts import TEXT_TO_SQL_PROMPT, format_examples, trim_schema
from rag.retriever import ExampleRetriever
from rag.sandbox import ReadOnlyDatabase
from rag.settings import Settings
from rag.sqltools import postprocess


@dataclass
class RetrievedExample:
    id: str
    score: float
    question: str
    sql: str
    db: str


@dataclass
class Answer:
    """What `ask` returns; `to_json` is the `coderag ask --json` shape."""

    question: str
    db: str
    generator: str
    k: int
    retrieved: list[RetrievedExample] = field(default_factory=list)
    raw: str | None = None
    sql: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    error_kind: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "db": self.db,
            "generator": self.generator,
            "k": self.k,
            "retrieved": [asdict(r) for r in self.retrieved],
            "sql": self.sql,
            "columns": self.columns,
            "rows": self.rows,
            "error": self.error,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def check_question(question: str, max_chars: int) -> str:
    text = (question or "").strip()
    if not text:
        raise ConfigError("the question is empty")
    if len(text) > max_chars:
        raise ConfigError(
            f"the question is {len(text):,} characters; the limit is {max_chars:,}",
            hint="ask a shorter question or raise max_question_chars",
        )
    return text


@dataclass
class _Trace:
    """Shared by every step of one invocation (the state dict is copied between steps; this is not)."""

    error: SQLError | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


def _timed(step: str, fn: Any) -> RunnableLambda:
    """A chain step that records its duration and is skipped once an earlier step failed."""

    def run(state: dict[str, Any]) -> Any:
        trace: _Trace = state["trace"]
        if trace.error is not None:
            return None
        started = time.perf_counter()
        try:
            return fn(state)
        except SQLError as exc:
            trace.error = exc
            return None
        finally:
            trace.timings_ms[step] = (time.perf_counter() - started) * 1000

    return RunnableLambda(run, name=step)


def build_chain(retriever: ExampleRetriever, generator: Generator) -> Runnable:
    """The runnable pipeline; input and output are the same state dict."""

    def retrieve(state: dict[str, Any]) -> list:
        return retriever.search(state["question"], state["k"], state["filter_db"])

    def prompt(state: dict[str, Any]) -> Any:
        if not generator.uses_prompt:
            return None
        return TEXT_TO_SQL_PROMPT.invoke(
            {"schema": trim_schema(state["schema"]), "examples": format_examples(state["hits"]), "question": state["question"]}
        )

    def generate(state: dict[str, Any]) -> str:
        if state.get("on_text") is not None:
            return generator.generate_streaming(state["prompt"], state["hits"], state["knn_db"], state["on_text"])
        return generator.generate(state["prompt"], state["hits"], state["knn_db"])

    def extract(state: dict[str, Any]) -> str:
        return postprocess(state["raw"])

    def execute(state: dict[str, Any]) -> Any:
        database: ReadOnlyDatabase | None = state.get("database")
        if database is None or not state["execute"]:
            return None
        return database.execute(state["sql"])

    return (
        RunnablePassthrough.assign(hits=_timed("retrieve", retrieve))
        | RunnablePassthrough.assign(prompt=_timed("prompt", prompt))
        | RunnablePassthrough.assign(raw=_timed("generate", generate))
        | RunnablePassthrough.assign(sql=_timed("extract", extract))
        | RunnablePassthrough.assign(result=_timed("execute", execute))
    )


class TextToSQL:
    """The question → SQL service: an encoder, an index, a generator and the chain over them."""

    def __init__(self, settings: Settings, index: VectorIndex, encoder: Encoder, generator: Generator) -> None:
        self.settings = settings
        self.index = index
        self.encoder = encoder
        self.generator = generator
        self.retriever = ExampleRetriever(index=index, encoder=encoder, k=settings.retrieval.k)
        self.chain = build_chain(self.retriever, generator)

    def ask(
        self,
        question: str,
        *,
        db_key: str | None,
        schema: str,
        database: ReadOnlyDatabase | None,
        k: int | None = None,
        execute: bool = True,
        filter_db: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer one question. `db_key` names the database's example store; `filter_db=False`
        retrieves from the whole store (gretel-style rows, whose databases are all different);
        `on_text` is called with the generated text so far while the LLM streams."""
        question = check_question(question, self.settings.max_question_chars)
        k = self.settings.retrieval.k if k is None else k
        started = time.perf_counter()
        state: dict[str, Any] = {
            "question": question,
            "schema": schema,
            "k": k,
            "filter_db": db_key if filter_db else None,
            "knn_db": db_key if filter_db else None,
            "database": database,
            "execute": execute,
            "on_text": on_text,
            "trace": _Trace(),
        }
        out = self.chain.invoke(state)
        trace: _Trace = state["trace"]
        error = trace.error
        answer = Answer(
            question=question,
            db=db_key or "",
            generator=self.generator.name,
            k=k,
            retrieved=[
                RetrievedExample(h.document.id, round(h.score, 4), h.document.question, h.document.sql, h.document.db)
                for h in (out.get("hits") or [])
            ],
            raw=out.get("raw"),
            sql=out.get("sql"),
            timings_ms=trace.timings_ms,
        )
        if out.get("result") is not None:
            answer.columns = out["result"].columns
            answer.rows = [list(r) for r in out["result"].rows]
            answer.truncated = out["result"].truncated
        if isinstance(error, SQLError):
            answer.error, answer.error_kind = str(error), error.kind
            answer.sql = answer.sql or error.sql
        answer.timings_ms["total"] = (time.perf_counter() - started) * 1000
        return answer

    def ask_database(self, question: str, ref: DatabaseRef, *, k: int | None = None, execute: bool = True) -> Answer:
        with ref.open(self.settings) as database:
            return self.ask(question, db_key=ref.key, schema=database.schema_sql(), database=database, k=k, execute=execute)

    def close(self) -> None:
        self.generator.close()

    def __enter__(self) -> TextToSQL:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Answer", "TextToSQL", "build_chain", "check_question"]
