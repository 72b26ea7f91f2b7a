"""Which database a question is about: a demo database (built on first use), a user's SQLite file,
or (in the UI) an uploaded file or a pasted schema. One reference type serves the CLI and the UI.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from rag.corpus import demo_db_path, demo_names
from rag.errors import DatabaseError
from rag.sandbox import ReadOnlyDatabase
from rag.settings import Settings

SourceKind = Literal["demo", "file", "upload", "schema"]
_KIND_WORDS = {"demo": "demo database", "file": "file", "upload": "uploaded file", "schema": "pasted schema"}


@dataclass(frozen=True)
class DatabaseRef:
    """A database the chain can query: `key` names its example store, `path` is the SQLite file.

    `schema` and `tables` are filled by `describe` (the UI shows them); they are empty until then.
    """

    key: str
    path: Path
    kind: SourceKind = "file"
    label: str = ""
    schema: str = ""
    tables: int = 0

    @property
    def is_demo(self) -> bool:
        return self.kind == "demo"

    @property
    def summary(self) -> str:
        return f"`{self.label}` ({_KIND_WORDS[self.kind]}, {self.tables} table{'s' if self.tables != 1 else ''})"

    def open(self, settings: Settings) -> ReadOnlyDatabase:
        """Open read-only with the configured time limit and row cap."""
        return ReadOnlyDatabase.open(self.path, timeout_s=settings.execution.timeout_s, max_rows=settings.execution.max_rows)


def describe(ref: DatabaseRef) -> DatabaseRef:
    """`ref` with its schema and table count read from the file; a database without tables is an error."""
    with ReadOnlyDatabase.open(ref.path) as database:
        schema, tables = database.schema_sql(), len(database.table_names())
    if tables == 0:
        raise DatabaseError(f"{ref.label or ref.path} has no tables to ask about")
    return replace(ref, schema=schema, tables=tables)


def resolve_db(name_or_path: str, home: Path) -> DatabaseRef:
    """A demo name (bookshop, clinic) or a path to an existing SQLite file."""
    if name_or_path in demo_names():
        return DatabaseRef(key=name_or_path, path=demo_db_path(name_or_path, home), kind="demo", label=name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise DatabaseError(
            f"database not found: {name_or_path}", hint=f"use a SQLite file path or a demo name: {', '.join(demo_names())}"
        )
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a SQLite file")
    resolved = path.resolve()
    key = f"file-{hashlib.sha256(str(resolved).encode()).hexdigest()[:10]}-{path.stem}"
    return DatabaseRef(key=key, path=resolved, kind="file", label=path.name)
