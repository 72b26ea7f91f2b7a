"""Read-only SQLite execution with a time limit and a row cap.

A user's database is opened with the `mode=ro` URI and an authorizer that denies every write,
ATTACH/DETACH, PRAGMA writes and extension loading, so even SQL that slipped past validation
cannot change it. A progress handler interrupts queries that run past the time limit (an
unbounded recursive CTE, a huge cross join).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rag.errors import DatabaseError, SQLError

_DENY = sqlite3.SQLITE_DENY
_OK = sqlite3.SQLITE_OK
_READ_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
SQLITE_HEADER = b"SQLite format 3\x00"
# functions that touch files or load code: denied in every connection coderag opens on untrusted SQL
DENIED_FUNCTIONS = frozenset({"load_extension", "writefile", "readfile", "edit", "fts3_tokenizer"})
_READ_PRAGMAS = {"table_info", "table_xinfo", "table_list", "foreign_key_list", "index_list", "index_info"}
_PROGRESS_EVERY = 2_000  # SQLite virtual machine instructions between clock checks


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows], "truncated": self.truncated}


def is_denied_function(name: str | None) -> bool:
    return (name or "").lower() in DENIED_FUNCTIONS


def is_sqlite_file(path: Path) -> bool:
    """Whether the file starts with SQLite's 16-byte header."""
    with Path(path).open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
    if action in _READ_ACTIONS:
        if action == sqlite3.SQLITE_FUNCTION and is_denied_function(arg2):
            return _DENY
        return _OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return _OK
    return _DENY


@dataclass
class ReadOnlyDatabase:
    """A SQLite database opened for reading only. Use as a context manager or call `close()`."""

    path: Path | None
    timeout_s: float = 5.0
    max_rows: int = 1000
    _conn: sqlite3.Connection | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | Path, *, timeout_s: float = 5.0, max_rows: int = 1000) -> ReadOnlyDatabase:
        """Open an existing SQLite file read-only; a missing, non-SQLite or corrupt file is a DatabaseError."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise DatabaseError(f"database not found: {path}")
        if not is_sqlite_file(path):
            raise DatabaseError(f"not a SQLite database: {path}")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"corrupt SQLite database {path}: {exc}") from None
        db = cls(path=path, timeout_s=timeout_s, max_rows=max_rows, _conn=conn)
        db._lock_down()
        return db

    @classmethod
    def from_script(cls, script: str, *, timeout_s: float = 5.0, max_rows: int = 1000) -> ReadOnlyDatabase:
        """An in-memory database built from DDL + INSERTs (a gretel `sql_context`), then locked read-only."""
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            conn.close()
            raise DatabaseError(f"schema script does not load in SQLite: {exc}") from None
        conn.execute("PRAGMA query_only = ON")
        db = cls(path=None, timeout_s=timeout_s, max_rows=max_rows, _conn=conn)
        db._lock_down()
        return db

    def _lock_down(self) -> None:
        assert self._conn is not None
        self._conn.set_authorizer(_authorizer)

    @property
    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DatabaseError("the database is closed")
        return self._conn

    def schema_sql(self) -> str:
        """CREATE statements of the user's tables and views, for prompts and display."""
        self.connection.set_authorizer(None)
        try:
            rows = self.connection.execute(
                "SELECT sql FROM sqlite_master WHERE type IN ('table', 'view') AND sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            ).fetchall()
        finally:
            self._lock_down()
        return ";\n".join(r[0].strip() for r in rows) + (";" if rows else "")

    def table_names(self) -> list[str]:
        self.connection.set_authorizer(None)
        try:
            rows = self.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        finally:
            self._lock_down()
        return [r[0] for r in rows]

    def execute(self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run one read-only query; errors and timeouts become SQLError with kind execution_error/timeout."""
        conn = self.connection
        limit = self.timeout_s if timeout_s is None else timeout_s
        cap = self.max_rows if max_rows is None else max_rows
        started = time.perf_counter()
        deadline = started + limit
        conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, _PROGRESS_EVERY)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(cap + 1)
            columns = [d[0] for d in cursor.description or []]
            cursor.close()
        except sqlite3.DatabaseError as exc:
            if time.perf_counter() > deadline or "interrupted" in str(exc):
                raise SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql) from None
            message = str(exc)
            if any(word in message for word in ("not authorized", "authorization denied", "prohibited", "readonly")):
                raise SQLError(f"refused: {message} (the database is read-only)", kind="forbidden", sql=sql) from None
            raise SQLError(f"SQLite error: {message}", kind="execution_error", sql=sql) from None
        except (sqlite3.Warning, ValueError, OverflowError) as exc:
            raise SQLError(f"SQLite error: {exc}", kind="execution_error", sql=sql) from None
        finally:
            conn.set_progress_handler(None, 0)
        truncated = len(rows) > cap
        return QueryResult(
            columns=columns,
            rows=[tuple(r) for r in rows[:cap]],
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
