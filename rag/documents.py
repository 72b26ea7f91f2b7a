"""Document templates: how an `Example` becomes the text the embedder sees.

The seed's template is `DATABASE CONTEXT + SQL QUERY`. The README's "Document templates" table
compares these on the bundled test split; the default in configs/default.yaml is the best one.

>>> ex = Example(id="1", question="How many?", sql="SELECT count(*) FROM t", db_id="d",
...              context="CREATE TABLE t (a INT); INSERT INTO t VALUES (1);")
>>> print(render(ex, "question_sql"))
QUESTION: How many?
SQL QUERY: SELECT count(*) FROM t
>>> schema_only(ex.context)
'CREATE TABLE t (a INT);'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rag.corpus import Example
from rag.errors import ConfigError

MASKED_TEMPLATE = "masked_question"
_STATEMENT = re.compile(r"(?is)\b(CREATE\s+(?:TABLE|VIEW)\b.*?\))\s*;")


def schema_only(context: str) -> str:
    """The CREATE TABLE/VIEW statements of a context, without its INSERT data."""
    statements = [m.group(1).strip() + ";" for m in _STATEMENT.finditer(context)]
    return "\n".join(statements) if statements else context.strip()


TEMPLATES: dict[str, Callable[[Example], str]] = {
    # The seed's template: full context (DDL + data) then the SQL.
    "context_sql": lambda ex: f"DATABASE CONTEXT:\n{ex.context}\n\nSQL QUERY:\n{ex.sql}",
    # The same with only the schema, so the SQL is not pushed past the encoder's token limit.
    "schema_sql": lambda ex: f"DATABASE CONTEXT:\n{schema_only(ex.context)}\n\nSQL QUERY:\n{ex.sql}",
    # The stored question first: questions are closest to questions.
    "question_sql_context": lambda ex: f"QUESTION: {ex.question}\nSQL QUERY: {ex.sql}\nDATABASE CONTEXT:\n{schema_only(ex.context)}",
    "question_sql": lambda ex: f"QUESTION: {ex.question}\nSQL QUERY: {ex.sql}",
    "question": lambda ex: ex.question,
    # The question with its database's words masked (DAIL-SQL: `rag.masking`), so questions compare by
    # structure; `VectorIndex.build` puts the masked text in `meta["masked_question"]` first.
    MASKED_TEMPLATE: lambda ex: ex.meta.get("masked_question") or ex.question,
}


def render(example: Example, template: str) -> str:
    try:
        return TEMPLATES[template](example)
    except KeyError:
        raise ConfigError(f"unknown document template '{template}' (choose from {', '.join(TEMPLATES)})") from None


@dataclass(frozen=True)
class Document:
    """One indexed entry: the rendered text plus what the chain needs back (question, SQL, database)."""

    id: str
    text: str
    question: str
    sql: str
    db: str
    context: str
    metadata: dict[str, Any]

    @classmethod
    def from_example(cls, example: Example, template: str) -> Document:
        return cls(
            id=example.id,
            text=render(example, template),
            question=example.question,
            sql=example.sql,
            db=example.db_id,
            context=example.context,
            metadata={"source": example.source, "split": example.split, "db_path": example.db_path, **example.meta},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "question": self.question,
            "sql": self.sql,
            "db": self.db,
            "context": self.context,
            "metadata": self.metadata,
        }

    def to_example(self) -> Example:
        """The example this document was made from (its masked question, if any, kept in meta)."""
        meta = {k: v for k, v in self.metadata.items() if k not in ("source", "split", "db_path")}
        return Example(
            id=self.id,
            question=self.question,
            sql=self.sql,
            db_id=self.db,
            context=self.context,
            db_path=self.metadata.get("db_path"),
            split=self.metadata.get("split") or "train",
            source=self.metadata.get("source") or "bundled",
            meta=meta,
        )

    @classmethod
    def from_dict(cls, data: Any) -> Document:
        """A document read back from docs.jsonl; a missing field or one of the wrong type is a ValueError."""
        if not isinstance(data, dict):
            raise ValueError("a document must be a JSON object")
        for name, kind in _FIELD_TYPES.items():
            if not isinstance(data.get(name), kind):
                raise ValueError(f"field '{name}' must be {'an object' if kind is dict else 'a string'}")
        return cls(**{name: data[name] for name in _FIELD_TYPES})


_FIELD_TYPES: dict[str, type] = {"id": str, "text": str, "question": str, "sql": str, "db": str, "context": str, "metadata": dict}
