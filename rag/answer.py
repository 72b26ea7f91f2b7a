"""What the question → answer path takes and gives (rag.chain): the checked `Question`, the `Answer`
with its step timings, the examples it retrieved, and the small helpers over retrieved hits."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.errors import ConfigError
from rag.index import Hit
from rag.linked import Link
from rag.sqltools import to_dialect

FALLBACK_NOTICE = (
    "this database has no stored examples yet, so the examples come from other databases; "
    "`coderag db add PATH --name NAME` synthesizes examples of its own, `coderag db teach` adds yours"
)


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
    notice: str | None = None  # e.g. the examples came from other databases
    confidence: float | None = None  # knn: how likely the reused example answers the question (rag.abstain)
    adapted: dict[str, Any] | None = None  # knn: the example whose SQL was adapted and the edits (rag.adapt)
    link: dict[str, Any] | None = None  # what the question was linked to (rag.linking)
    composed: dict[str, Any] | None = None  # knn: the answer composed from the link, when chosen (rag.compose)
    prompt_chars: int | None = None  # LLMs: the prompt's size
    repaired: bool = False  # LLMs: the first query failed and the model wrote another
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
            "notice": self.notice,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "adapted": self.adapted,
            "link": self.link,
            "composed": self.composed,
            "prompt_chars": self.prompt_chars,
            "repaired": self.repaired,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Question:
    """A question that passed the checks (not empty, not too long); checked once, where it enters."""

    text: str

    @classmethod
    def parse(cls, text: str | Question, max_chars: int) -> Question:
        if isinstance(text, Question):
            return text
        stripped = (text or "").strip()
        if not stripped:
            raise ConfigError("the question is empty")
        if len(stripped) > max_chars:
            raise ConfigError(
                f"the question is {len(stripped):,} characters; the limit is {max_chars:,}",
                hint="ask a shorter question or raise max_question_chars",
            )
        return cls(stripped)


def check_question(question: str, max_chars: int) -> str:
    """The question's text, stripped; an empty or over-long question is a ConfigError."""
    return Question.parse(question, max_chars).text


@contextmanager
def timed(answer: Answer, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        answer.timings_ms[step] = answer.timings_ms.get(step, 0.0) + (time.perf_counter() - started) * 1000


def is_synthesized(hit: Hit) -> bool:
    """Whether a stored example was synthesized (`db add`), not taught or saved by a person."""
    return (hit.document.metadata or {}).get("origin") == "synth"


def composed_confidence(coverage: float, link: Link) -> float:
    """How sure an answer composed from the link is: every part of the question accounted for
    (coverage 1) and every linked table named by the question itself; fuzzy value matches and
    linked values the SQL left unused lower it."""
    if coverage < 1.0:
        return 0.0
    fuzzy = sum(v.how == "fuzzy" for v in link.values)
    return max(0.0, 0.9 - 0.1 * fuzzy)


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def in_dialect(hits: list[Hit], dialect: str, db_key: str | None) -> list[Hit]:
    """Retrieved examples with their SQL in the database's dialect, before they enter the prompt or
    run (knn). The corpus and other databases' stores are SQLite; a database's own store already
    speaks its dialect (its examples were checked on it)."""
    if dialect == "sqlite":
        return hits
    return [
        hit
        if hit.document.db == db_key
        else dataclasses.replace(hit, document=dataclasses.replace(hit.document, sql=to_dialect(hit.document.sql, dialect)))
        for hit in hits
    ]


def retrieved_example(hit: Hit) -> RetrievedExample:
    doc = hit.document
    return RetrievedExample(doc.id, round(hit.score, 4), doc.question, doc.sql, doc.db)
