"""Which database a question is about: demo databases built on first use, or a user's SQLite file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rag.corpus import demo_db_path, demo_names
from rag.errors import DatabaseError
from rag.sandbox import ReadOnlyDatabase
from rag.settings import Settings


@dataclass(frozen=True)
class DatabaseRef:
    """A database the chain can query: `key` names its example store, `path` is the SQLite file."""

    key: str
    path: Path
    is_demo: bool

    def open(self, settings: Settings) -> ReadOnlyDatabase:
        return ReadOnlyDatabase.open(self.path, timeout_s=settings.execution.timeout_s, max_rows=settings.execution.max_rows)




def resolve_db(name_or_path: str, home: Path) -> DatabaseRef:
    """A demo name (bookshop, clinic) or a path to an existing SQLite file."""
    if name_or_path in demo_names():
        return DatabaseRef(key=name_or_path, path=demo_db_path(name_or_path, home), is_demo=True)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise DatabaseError(
            f"database not found: {name_or_path}", hint=f"use a SQLite file path or a demo name: {', '.join(demo_names())}"
        )
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a SQLite file")
    resolved = path.resolve()
    return DatabaseRef(key=f"file-{hashlib.sha256(str(resolved).encode()).hexdigest()[:10]}-{path.stem}", path=resolved, is_demo=False)

