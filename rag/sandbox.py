"""Read-only SQLite execution within one wall-clock limit and a memory bound.

SQLite never runs on a user's database in this process: a small worker process does
(`rag/sqlworker.py`, started once and reused). There every connection is opened read-only
(`mode=ro`, `query_only`, an authorizer that denies every write, ATTACH/DETACH, PRAGMA writes
and extension loading) with SQLite's own limits on value size, SQL length, expression depth and
the rest, `trusted_schema=OFF` and a process-wide `hard_heap_limit`; the worker's address space
is capped with RLIMIT_AS. A progress handler stops ordinary runaway queries at the time limit;
whatever does not stop (one long C call) is killed with its worker at the limit plus
`GRACE_S` (rag.workers), and the next query gets a fresh worker. Rows come back capped in number and in bytes.

A database in WAL mode whose `-wal`/`-shm` files are absent (nobody is writing it) is opened
with `immutable=1`, so reading it creates no side files; when a writer has them open they are
shared; one without the other (a writer crashed) is read from a private snapshot.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rag.errors import DatabaseError, SQLError
from rag.limits import MB, Limits, QueryResult, time_left
from rag.sqlworker import DENIED_FUNCTIONS, is_denied_function
from rag.workers import run_in_worker

__all__ = [
    "DENIED_FUNCTIONS", "MB", "Limits", "QueryResult", "ReadOnlyDatabase", "build_database_file", "is_denied_function", "is_sqlite_file",
]  # fmt: skip

SQLITE_HEADER = b"SQLite format 3\x00"


def read_header(path: Path) -> bytes:
    """The first 100 bytes of a file (SQLite's header); an unreadable file is a DatabaseError."""
    try:
        with Path(path).open("rb") as handle:
            return handle.read(100)
    except OSError as exc:
        raise DatabaseError(f"cannot read {path}: {exc.strerror or exc}") from None


def is_sqlite_file(path: Path) -> bool:
    """Whether the file starts with SQLite's 16-byte header."""
    return read_header(path).startswith(SQLITE_HEADER)


class _PrivateFiles:
    """A 0700 temporary directory for databases built from scripts and snapshots, removed at exit."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._lock = threading.Lock()

    def new(self, suffix: str) -> Path:
        with self._lock:
            if self._path is None or not self._path.is_dir():
                self._path = Path(tempfile.mkdtemp(prefix="coderag-sql-"))
                atexit.register(shutil.rmtree, self._path, True)
        fd, name = tempfile.mkstemp(dir=self._path, suffix=suffix)
        os.close(fd)
        os.unlink(name)
        return Path(name)


_PRIVATE = _PrivateFiles()


def build_database_file(
    path: Path, script: str, *, timeout_s: float, max_bytes: int, what: str = "the script", limits: Limits | None = None
) -> None:
    """Build a new SQLite file at `path` from a script (DDL + INSERTs) in the worker: no ATTACH,
    no denied functions, at most `max_bytes` on disk, at most `timeout_s`. Raises DatabaseError."""
    limits = limits or Limits()
    request = {
        "op": "build",
        "path": str(path),
        "script": script,
        "timeout_s": timeout_s,
        "max_bytes": max_bytes,
        "limits": limits.for_sqlite(),
    }
    answer = run_in_worker(limits, request, timeout_s, "sqlite")
    if not answer["ok"] and answer["message"].startswith("the sqlite worker stopped"):
        answer["message"] = f"it stopped the SQL worker, most likely at its {limits.memory_mb} MB memory limit"
    if answer["ok"]:
        return
    Path(path).unlink(missing_ok=True)
    kind, message = answer["kind"], answer["message"]
    if kind == "timeout":
        raise DatabaseError(f"{what} took longer than {timeout_s:g} s to build")
    if kind == "too_large" and "full" in message:
        raise DatabaseError(f"{what} builds a database over the {max_bytes / MB:.0f} MB limit")
    raise DatabaseError(f"{what} does not load in SQLite: {message}")


# -- the database ---------------------------------------------------------------------------------


@dataclass
class ReadOnlyDatabase:
    """A SQLite database opened for reading only. Use as a context manager or call `close()`."""

    path: Path | None
    timeout_s: float = 5.0
    max_rows: int = 1000
    limits: Limits = field(default_factory=Limits)
    privilege_notice: str | None = None  # never set: a SQLite file has no roles
    _uri: str = field(default="", repr=False)
    _key: str = field(default="", repr=False)
    _owned: Path | None = field(default=None, repr=False)  # a private file (built or snapshot), removed on close
    _schema: dict[str, Any] | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(cls, path: str | Path, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None) -> ReadOnlyDatabase:
        """Open an existing SQLite file read-only; a missing, unreadable, non-SQLite or corrupt file is a DatabaseError."""
        path = Path(path).expanduser()
        try:
            found = path.is_file()
        except OSError as exc:
            raise DatabaseError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not found:
            raise DatabaseError(f"database not found: {path}")
        header = read_header(path)
        if not header.startswith(SQLITE_HEADER):
            raise DatabaseError(f"not a SQLite database: {path}")
        uri, owned = _read_only_uri(path.resolve(), header)
        db = cls(path=path, timeout_s=timeout_s, max_rows=max_rows, limits=limits or Limits(), _uri=uri, _owned=owned)
        db._key = _file_key(owned or path, uri)
        answer = db._call({"op": "open"}, max(timeout_s, 5.0))
        if not answer["ok"]:
            db.close()
            raise DatabaseError(f"corrupt SQLite database {path}: {answer['message']}")
        return db

    @classmethod
    def from_script(cls, script: str, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None) -> ReadOnlyDatabase:
        """A private database built from DDL + INSERTs (a gretel `sql_context`), then opened read-only."""
        limits = limits or Limits()
        target = _PRIVATE.new(".sqlite")
        build_database_file(
            target, script, timeout_s=max(timeout_s, 5.0), max_bytes=limits.memory_mb * MB, what="schema script", limits=limits
        )
        uri = f"{target.as_uri()}?mode=ro&immutable=1"
        db = cls(path=None, timeout_s=timeout_s, max_rows=max_rows, limits=limits, _uri=uri, _key=_file_key(target, uri), _owned=target)
        return db

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def dialect(self) -> str:
        """sqlglot's name for the SQL this database runs (databases by URL: rag.engines)."""
        return "sqlite"

    def schema_sql(self) -> str:
        """CREATE statements of the user's tables and views, for prompts and display."""
        definitions = [d.strip() for d in self._read_schema()["definitions"]]
        return ";\n".join(definitions) + (";" if definitions else "")

    def table_names(self) -> list[str]:
        return list(self._read_schema()["tables"])

    def execute(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None, started: float | None = None
    ) -> QueryResult:
        """Run one read-only query within the time limit, counted from `started` (a `time.monotonic()`
        taken before parsing, so one limit covers parse + run + fetch) or from now. Failures are
        SQLError with kind execution_error, forbidden, timeout or too_large."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        began, remaining = time_left(limit, started, sql)
        cap = self.max_rows if max_rows is None else max_rows
        request = {"op": "query", "sql": sql, "timeout_s": remaining, "max_rows": cap, "max_bytes": self.limits.result_mb * MB}
        answer = self._call(request, remaining)
        if not answer["ok"]:
            raise self._query_error(answer["kind"], answer["message"], limit, sql)
        return QueryResult(
            columns=answer["columns"],
            rows=[tuple(row) for row in answer["rows"]],
            truncated=answer["truncated"],
            elapsed_ms=(time.monotonic() - began) * 1000,
            notice=_replaced_notice(answer.get("replaced", 0)),
        )

    def quick_check(self) -> None:
        """SQLite's `PRAGMA quick_check` over the whole file: a truncated or damaged file is a
        DatabaseError here (`db add`), not an answer with rows made up from what is left."""
        try:
            rows = self.execute("PRAGMA quick_check", timeout_s=max(self.timeout_s, 30.0), max_rows=20).rows
        except SQLError as exc:
            raise DatabaseError(f"corrupt SQLite database {self.path}: {exc.message}") from None
        if rows != [("ok",)]:
            problems = "; ".join(str(row[0]) for row in rows[:3])
            raise DatabaseError(
                f"corrupt SQLite database {self.path}: {problems}", hint="restore it from a backup, or recover it with sqlite3's .recover"
            )

    def _query_error(self, kind: str, message: str, limit: float, sql: str) -> SQLError | DatabaseError:
        if kind == "timeout":
            return SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
        if kind == "forbidden":
            return SQLError(f"refused: {message} (the database is read-only)", kind="forbidden", sql=sql)
        if kind == "too_large":
            limits = self.limits
            return SQLError(
                f"the query goes over a resource limit: {message}",
                kind="too_large",
                sql=sql,
                hint=f"values up to {limits.value_mb} MB, {limits.memory_mb} MB of memory: execution.max_value_mb / max_memory_mb",
            )
        if kind == "database":
            return DatabaseError(f"cannot read the database {self.path or 'script'}: {message}")
        return SQLError(f"SQLite error: {message}", kind="execution_error", sql=sql)

    def _read_schema(self) -> dict[str, Any]:
        if self._schema is None:
            answer = self._call({"op": "schema"}, max(self.timeout_s, 5.0))
            if not answer["ok"]:
                raise DatabaseError(f"cannot read the schema of {self.path or 'the database'}: {answer['message']}")
            self._schema = answer
        return self._schema

    def _call(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        """One request about this database to a worker; a worker that overran is killed and reported."""
        if self._closed:
            raise DatabaseError("the database is closed")
        request = {**request, "uri": self._uri, "key": self._key, "limits": self.limits.for_sqlite()}
        answer = run_in_worker(self.limits, request, seconds, "sqlite")
        if not answer["ok"] and answer["message"].startswith("the sqlite worker stopped"):
            answer["message"] = f"the SQL worker stopped, most likely at its {self.limits.memory_mb} MB memory limit"
        return answer

    def close(self) -> None:
        self._closed = True
        if self._owned is not None:
            for leftover in (self._owned, Path(f"{self._owned}-wal"), Path(f"{self._owned}-shm")):
                leftover.unlink(missing_ok=True)
            self._owned = None

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _replaced_notice(count: int) -> str | None:
    """The notice for text values that were not valid UTF-8 (decoded with U+FFFD for the bad bytes)."""
    if not count:
        return None
    return f"{count} text value{'s' if count != 1 else ''} in the result {'were' if count != 1 else 'was'} not valid UTF-8; shown with � for the bad bytes"


def _file_key(path: Path, uri: str) -> str:
    """Names one state of one file: a worker reopens the database when it changes."""
    try:
        stat = path.stat()
    except OSError:
        return uri
    return f"{uri}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}"


def _read_only_uri(path: Path, header: bytes) -> tuple[str, Path | None]:
    """The URI the worker opens (and a private snapshot to remove later, if one was made).

    A WAL database (header bytes 18-19 = 2) would get `-wal` and `-shm` files beside it on a
    read-only open. Without them nobody is writing it, so `immutable=1` reads it as it is; with
    both, a writer has them open and reading shares them; with one only, a writer crashed, and a
    private copy of the file and its log is read instead."""
    uri = f"{path.as_uri()}?mode=ro"
    if header[18:20] != b"\x02\x02":
        return uri, None
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if not wal.exists() and not shm.exists():
        return f"{uri}&immutable=1", None
    if wal.exists() and shm.exists():
        return uri, None
    snapshot = _PRIVATE.new(".sqlite")
    try:
        shutil.copyfile(path, snapshot)
        if wal.exists():
            shutil.copyfile(wal, f"{snapshot}-wal")
    except OSError as exc:
        raise DatabaseError(f"cannot snapshot the WAL database {path}: {exc.strerror or exc}") from None
    return f"{snapshot.as_uri()}?mode=ro", snapshot
