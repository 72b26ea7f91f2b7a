"""What a server engine's failure means: driver errors as one line, and as the `SQLError` kinds
(forbidden, timeout, too_large, execution_error) or `DatabaseError`s SQLite's failures have.

PostgreSQL's errors are read by SQLSTATE, MySQL/MariaDB's by error number, DuckDB's by exception
class; what none of them names is an ordinary execution error.
"""

from __future__ import annotations

from rag.errors import SQLError
from rag.urls import mask

LIMITS_HINT = "results up to execution.max_result_mb, memory up to execution.max_memory_mb"
ROW_OVER_LIMIT = "bytes: a row over the coderag result limit"  # PostgreSQL's own stop at a row over the budget (rag.postgres)


def error_line(exc: BaseException) -> str:
    """A driver's error as one short line, without the SQL it quotes or a password."""
    orig = getattr(exc, "orig", None) or exc
    args = getattr(orig, "args", ())
    if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], int):  # pymysql: (code, message)
        line = f"({args[0]}) {args[1]}"
    else:
        text = str(orig).strip().splitlines()
        line = text[0] if text else type(orig).__name__
    return mask(" ".join(line.split()))[:300]


def query_error(kind: str | None, message: str, *, limit: float, sql: str, engine: str) -> SQLError:
    """A failed query as its one-line SQLError, by kind (timeout, forbidden, too_large; None or another: the engine's error)."""
    if kind == "timeout":
        return SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
    if kind == "forbidden":
        return SQLError(f"refused: {message} (the database is read-only)", kind="forbidden", sql=sql)
    if kind == "too_large":
        return SQLError(f"the query goes over a resource limit: {message}", kind="too_large", sql=sql, hint=LIMITS_HINT)
    return SQLError(f"{engine} error: {message}", kind="execution_error", sql=sql)


# What a driver's error means, by PostgreSQL SQLSTATE, MySQL/MariaDB error number or DuckDB exception class.
_PG_STATES = {
    "57014": "timeout", "55P03": "timeout", "25P03": "timeout",  # canceled / lock timeout / idle-in-transaction timeout
    "25006": "forbidden", "42501": "forbidden", "25001": "forbidden", "0A000": "forbidden", "25P02": "forbidden",
    "53200": "too_large", "54000": "too_large", "54001": "too_large", "53100": "too_large", "53400": "too_large",
    "57P01": "lost", "57P02": "lost", "57P03": "lost", "08000": "lost", "08003": "lost", "08006": "lost",
}  # fmt: skip
_MYSQL_CODES = {
    1969: "timeout", 3024: "timeout", 1317: "timeout", 1205: "timeout",  # statement time / KILL QUERY / lock wait
    1792: "forbidden", 1227: "forbidden", 1142: "forbidden", 1143: "forbidden", 1044: "forbidden", 1290: "forbidden",
    1370: "forbidden", 1045: "forbidden", 1148: "forbidden", 1568: "forbidden", 1836: "forbidden",
    1037: "too_large", 1038: "too_large", 1041: "too_large", 1104: "too_large", 1153: "too_large", 1114: "too_large",
    2006: "lost", 2013: "lost", 2014: "lost", 2055: "lost", 1927: "lost", 1053: "lost",
}  # fmt: skip
_DUCKDB_CLASSES = {"InterruptException": "timeout", "PermissionException": "forbidden", "OutOfMemoryException": "too_large"}
_DUCKDB_REFUSALS = ("read-only mode", "configuration has been locked", "disabled by configuration", "disabled through configuration")


def classify(orig: BaseException) -> str | None:
    """timeout, forbidden, too_large, lost (the connection), or None (an ordinary execution error)."""
    args = getattr(orig, "args", ())
    if isinstance(args, tuple) and args and isinstance(args[0], int):  # pymysql: (error number, message)
        return _MYSQL_CODES.get(args[0])
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):  # psycopg
        return _PG_STATES.get(state)
    for klass in type(orig).__mro__:
        if klass.__name__ in _DUCKDB_CLASSES:
            return _DUCKDB_CLASSES[klass.__name__]
    text = str(orig).lower()
    if type(orig).__module__.startswith(("duckdb", "_duckdb")) and any(w in text for w in _DUCKDB_REFUSALS):
        return "forbidden"
    if type(orig).__name__ == "OperationalError" and any(w in text for w in ("server closed", "connection", "consuming input failed")):
        return "lost"  # psycopg: the server went away (no SQLSTATE)
    return None
