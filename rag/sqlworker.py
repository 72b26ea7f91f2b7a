"""The SQLite side of the sandbox: a child process that owns every connection to a user's database.

`rag.sandbox` starts it as `python -I -S sqlworker.py ADDRESS_SPACE_BYTES HEAP_BYTES` (standard
library only, so it starts in about 30 ms), writes one JSON request per line and reads one JSON
answer per line. SQLite runs here, not in the caller, for two bounds no in-process check gives:
the caller kills this process at the wall-clock limit even inside one long C call (a quadratic
`instr` or `replace`, `printf('%.*c', 2e9, 'x')`), and the kernel caps its address space
(RLIMIT_AS), so no query can take more memory than that.

Every connection also gets SQLite's own defences: `setlimit` on value and SQL length, expression
depth, compound SELECTs, program size, function arguments and LIKE patterns, no ATTACHed
databases, `trusted_schema=OFF`, temporary tables and sorts in memory (so they count against the
heap limit instead of filling the disk), the process-wide `hard_heap_limit`, and the defensive
flag where Python exposes `setconfig` (3.12+; on 3.11 it cannot be set, and the authorizer and
`query_only` already refuse what it guards). Queries run with `query_only`, an authorizer that
allows reads only, and a progress handler that stops them at the time limit.
"""

from __future__ import annotations

import base64
import json
import resource
import sqlite3
import sys
import time
from collections import OrderedDict
from typing import Any

# functions that touch files or load code: denied in every connection coderag opens on untrusted SQL
DENIED_FUNCTIONS = frozenset({"load_extension", "writefile", "readfile", "edit", "fts3_tokenizer"})
READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "table_list", "foreign_key_list", "index_list", "index_info", "quick_check"})
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_PROGRESS_EVERY = 2_000  # SQLite virtual machine instructions between clock checks
_OPEN_CONNECTIONS = 8
# SQLite's limits besides the byte sizes the caller sets: deep enough for any real query, far
# below the defaults that let one statement grow without end
_FIXED_LIMITS = {
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 64,
    sqlite3.SQLITE_LIMIT_VDBE_OP: 250_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 64,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
}
_OUT_OF_MEMORY = b'{"ok":false,"kind":"too_large","message":"the query needs more memory than its limit"}'


class Refused(Exception):
    """A request this worker answers with an error of `kind` (timeout, forbidden, too_large, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def is_denied_function(name: str | None) -> bool:
    return (name or "").lower() in DENIED_FUNCTIONS


def read_only_authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
    """Reads, read-only PRAGMAs and functions other than the denied ones; nothing else."""
    if action in _READ_ACTIONS:
        if action == sqlite3.SQLITE_FUNCTION and is_denied_function(arg2):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def build_authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None) -> int:
    """For building a private database from a script: anything but ATTACH/DETACH and the denied functions."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and is_denied_function(arg2):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def harden(conn: sqlite3.Connection, limits: dict[str, int]) -> None:
    """SQLite's own limits and safe settings on one connection (before any untrusted SQL)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits["value_bytes"])
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, limits["sql_bytes"])
    for category, value in _FIXED_LIMITS.items():
        conn.setlimit(category, value)
    if sys.version_info >= (3, 12):  # Connection.setconfig
        conn.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)
        conn.setconfig(sqlite3.SQLITE_DBCONFIG_TRUSTED_SCHEMA, False)
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA temp_store = MEMORY")


def classify(exc: BaseException, deadline: float) -> Refused:
    """A SQLite failure as a Refused with a kind the caller maps to its error types."""
    if isinstance(exc, MemoryError):
        return Refused("too_large", "the query needs more memory than its limit")
    message = str(exc) or type(exc).__name__
    if time.monotonic() > deadline or "interrupted" in message:
        return Refused("timeout", message)
    if any(word in message for word in ("not authorized", "authorization denied", "prohibited", "readonly", "max 0")):
        return Refused("forbidden", message)
    if any(word in message for word in ("too big", "too large", "too many", "too long", "too deep", "out of memory", "is full")):
        return Refused("too_large", message)
    return Refused("execution_error", message)


class _Text:
    """SQLite's text as str: invalid UTF-8 (SQLite stores whatever bytes it is given) is decoded with
    U+FFFD in place of the bad bytes instead of failing the whole column; `replaced` counts such values."""

    replaced = 0

    @classmethod
    def decode(cls, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            cls.replaced += 1
            return raw.decode("utf-8", "replace")


def _encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _value(value: Any) -> Any:
    return {"b": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


class Worker:
    """Requests in, answers out; keeps a few connections open between requests."""

    def __init__(self) -> None:
        self.connections: OrderedDict[str, sqlite3.Connection] = OrderedDict()

    def handle(self, request: dict[str, Any]) -> bytes:
        """One request → one JSON answer, UTF-8 encoded, without the newline."""
        try:
            if request["op"] == "build":
                self.build(request)
                return b'{"ok":true}'
            conn = self.connection(request)
            if request["op"] == "open":
                return b'{"ok":true}'
            if request["op"] == "schema":
                return _encode({"ok": True, **self.schema(conn)})
            return self.query(conn, request)
        except Refused as refused:
            return _encode({"ok": False, "kind": refused.kind, "message": str(refused)})
        except MemoryError:
            return _OUT_OF_MEMORY

    def connection(self, request: dict[str, Any]) -> sqlite3.Connection:
        """The open connection for the request's database (`uri` + `key`, which changes with the file)."""
        key = f"{request['key']}|{json.dumps(request['limits'], sort_keys=True)}"
        conn = self.connections.get(key)
        if conn is not None:
            self.connections.move_to_end(key)
            return conn
        try:
            conn = sqlite3.connect(request["uri"], uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise Refused("database", str(exc)) from None
        try:
            harden(conn, request["limits"])
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.Error, MemoryError) as exc:
            conn.close()
            raise Refused("database", str(exc) or type(exc).__name__) from None
        conn.set_authorizer(read_only_authorizer)
        conn.text_factory = _Text.decode
        self.connections[key] = conn
        while len(self.connections) > _OPEN_CONNECTIONS:
            self.connections.popitem(last=False)[1].close()
        return conn

    @staticmethod
    def schema(conn: sqlite3.Connection) -> dict[str, Any]:
        """CREATE statements of the tables and views, and the table names."""
        try:
            definitions = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type IN ('table', 'view') AND sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            ).fetchall()
            tables = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        except (sqlite3.Error, MemoryError) as exc:
            raise classify(exc, float("inf")) from None
        return {"definitions": [r[0] for r in definitions], "tables": [r[0] for r in tables]}

    @staticmethod
    def query(conn: sqlite3.Connection, request: dict[str, Any]) -> bytes:
        """Run one statement; rows are encoded as they come, up to `max_rows` and `max_bytes`."""
        deadline = time.monotonic() + request["timeout_s"]
        max_rows, max_bytes = request["max_rows"], request["max_bytes"]
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_EVERY)
        rows: list[bytes] = []
        size, truncated = 0, False
        _Text.replaced = 0
        try:
            cursor = conn.execute(request["sql"])
            columns = [d[0] for d in cursor.description or []]
            for row in cursor:
                encoded = _encode([_value(v) for v in row])
                size += len(encoded) + 1
                if len(rows) >= max_rows or size > max_bytes:
                    truncated = True
                    break
                rows.append(encoded)
                if time.monotonic() > deadline:
                    raise Refused("timeout", "interrupted while fetching rows")
            cursor.close()
        except (sqlite3.Error, MemoryError, OverflowError, ValueError) as exc:
            raise classify(exc, deadline) from None
        finally:
            conn.set_progress_handler(None, 0)
        head = _encode({"ok": True, "columns": columns, "truncated": truncated, "replaced": _Text.replaced})
        return head[:-1] + b',"rows":[' + b",".join(rows) + b"]}"

    @staticmethod
    def build(request: dict[str, Any]) -> None:
        """Run a script (DDL + INSERTs) into a new private database file, capped in size and time."""
        deadline = time.monotonic() + request["timeout_s"]
        conn = sqlite3.connect(request["path"], isolation_level=None)
        try:
            harden(conn, request["limits"])
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("PRAGMA synchronous = OFF")
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(1, request['max_bytes'] // page_size)}")
            conn.set_authorizer(build_authorizer)
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_EVERY)
            conn.executescript(request["script"])
        except (sqlite3.Error, MemoryError, ValueError) as exc:
            refused = classify(exc, deadline)
            raise Refused("database" if refused.kind == "execution_error" else refused.kind, str(refused)) from None
        finally:
            conn.close()


def main(argv: list[str]) -> None:
    """Cap this process's memory, then answer requests until stdin closes."""
    address_space, heap = int(argv[1]), int(argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    sqlite3.connect(":memory:").execute(f"PRAGMA hard_heap_limit = {heap}").close()  # process-wide
    worker = Worker()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        try:
            answer = worker.handle(json.loads(line))
        except MemoryError:
            answer = _OUT_OF_MEMORY
        stdout.write(answer + b"\n")
        stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
