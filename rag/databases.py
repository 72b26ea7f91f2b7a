"""Which database a question is about: demo databases built on first use, or a user's SQLite file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag.corpus import DEMO_DIR, Example, demo_names, load_demo_examples
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


def demo_db_path(name: str, home: Path) -> Path:
    """The demo database file, (re)built atomically from schema.sql when missing or outdated."""
    script_path = DEMO_DIR / name / "schema.sql"
    if not script_path.is_file():
        raise DatabaseError(f"unknown demo database '{name}' (available: {', '.join(demo_names())})")
    script = script_path.read_text(encoding="utf-8")
    digest = hashlib.sha256(script.encode()).hexdigest()[:12]
    target = home / "demo" / f"{name}-{digest}.sqlite"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        conn.executescript(script)
        conn.commit()
        conn.close()
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


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


def demo_examples(home: Path | None) -> list[Example]:
    """Every demo database's example store, with its schema as context and its file as db_path."""
    from rag.settings import load_settings

    home = home or load_settings().home
    out: list[Example] = []
    for name in demo_names():
        path = demo_db_path(name, home)
        with ReadOnlyDatabase.open(path) as db:
            schema = db.schema_sql()
        out.extend(load_demo_examples(name, path, schema))
    return out
