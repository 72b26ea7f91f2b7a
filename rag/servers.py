"""What the server engines share: a database opened read-only through SQLAlchemy, behind the same
interface as SQLite's `ReadOnlyDatabase`. Each engine's own session, limits and runner are in its
module (rag.engine_postgres, rag.engine_mysql, rag.engine_duckdb); rag.engines opens them by URL.

Every query passes `refuse_forbidden_functions` (rag.sqltools) first, and `connect` refuses a role
that may write or is a superuser unless `allow_privileged_role`. Rows are fetched in batches the
result's byte budget can hold (one row first), never the whole result; a first row over it is an
error. Values come back as SQLite's kinds (int, float, str, bytes, None), so results compare the
same way on every engine. Failures are the same `SQLError` kinds and `DatabaseError`s as SQLite's
(rag.servererrors), each one line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from rag.duckworker import sqlite_value as _sqlite_value
from rag.errors import DatabaseError, SQLError
from rag.limits import MB, Limits, QueryResult, time_left
from rag.reflect import Reflected, reflect
from rag.servererrors import (
    LIMITS_HINT,
    ROW_OVER_LIMIT,
    classify,
    error_line,
    query_error,
)
from rag.sqltools import refuse_forbidden_functions
from rag.urls import DatabaseURL, find_password, require_modules

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

GRACE_S = 0.5  # the engine's own limit should stop a query; the client-side watchdog acts this much later
CONNECT_TIMEOUT_S = 5
_FETCH_BATCH = 200

Rows = tuple[list[str], list[tuple[Any, ...]], bool]  # columns, rows, truncated


@dataclass
class ServerDatabase:
    """A PostgreSQL, MySQL/MariaDB or DuckDB database opened read-only through SQLAlchemy. Each engine's
    subclass makes its SQLAlchemy engine (`_create_engine`), reads its role's privileges and runs a query."""

    RECIPE: ClassVar[str] = ""  # the README's read-only role recipe, quoted in the refusal of a privileged role

    url: DatabaseURL
    engine: Engine = field(repr=False)
    timeout_s: float = 5.0
    max_rows: int = 1000
    limits: Limits = field(default_factory=Limits)
    server: str = ""  # e.g. "10.11.19-MariaDB", read once at connect
    privilege_notice: str | None = None  # set when a privileged role was let in (--allow-privileged-role): answers carry it
    _schema: Reflected | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    path = None  # no SQLite file: callers that need one test for it

    @classmethod
    def connect(
        cls,
        url: DatabaseURL,
        *,
        timeout_s: float = 5.0,
        max_rows: int = 1000,
        limits: Limits | None = None,
        allow_privileged_role: bool = False,
    ) -> ServerDatabase:
        """Connect once (a bad host, password or database fails here, in one line), read the server's
        version, and refuse a role that may write or is a superuser unless `allow_privileged_role`."""
        assert url.scheme is not None
        require_modules(url.scheme.modules, url.scheme.extra)
        limits = limits or Limits()
        engine = cls._create_engine(url, find_password(url), timeout_s, limits)
        db = cls(url=url, engine=engine, timeout_s=timeout_s, max_rows=max_rows, limits=limits)
        try:
            with db._connection() as raw:
                db.server = db._version(raw)
                privileges = db._privileges(raw)
            if privileges:
                db._admit(privileges, allow_privileged_role)
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _create_engine(url: DatabaseURL, password: str | None, timeout_s: float, limits: Limits) -> Engine:
        """The SQLAlchemy engine with the driver's connect-time limits and read-only session."""
        raise NotImplementedError

    def _privileges(self, raw: Any) -> str:
        """What the connection's role may do beyond reading, as words ('' for a read-only role): the
        engine's `_privilege_words` on a cursor of its own, rolled back; a failure is one line."""
        try:
            cursor = raw.cursor()
            words = self._privilege_words(cursor)
            cursor.close()
            raw.rollback()
        except Exception as exc:
            raise DatabaseError(
                f"cannot read the privileges of the role {self.url.url.username or ''} on {self.label}: {error_line(exc)}"
            ) from None
        return words

    def _privilege_words(self, cursor: Any) -> str:
        """The engine's query for `_privileges` (engines without roles override `_privileges`)."""
        raise NotImplementedError

    def _admit(self, privileges: str, allowed: bool) -> None:
        """Refuse a privileged role in one line that quotes the read-only role recipe, or note that it was let in."""
        role = self.url.url.username or "(default)"
        if allowed:
            self.privilege_notice = (
                f"{self.label} connects as role {role}, which {privileges}: allowed by --allow-privileged-role; "
                "only coderag's read-only transaction and its refusals stand between a query and the server"
            )
            return
        recipe = self.RECIPE.format(db=self.url.url.database)
        first, _, more = privileges.partition(", ")
        raise DatabaseError(  # one line the CLI shows whole (it cuts at 500 characters): the first reason, then the recipe
            f'refused: role {role} {first}{" (and more)" if more else ""}; connect as a read-only role, README "Databases by URL": {recipe}',
            hint="or pass --allow-privileged-role",
        )

    # -- the interface ----------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self.url.dialect

    @property
    def label(self) -> str:
        return self.url.masked

    @property
    def closed(self) -> bool:
        return self._closed

    def schema_sql(self) -> str:
        """CREATE TABLE / VIEW statements of the default schema (at most `MAX_TABLES`), for prompts and fingerprints."""
        return self._read_schema()[0]

    def table_names(self) -> list[str]:
        return list(self._read_schema()[1])

    def columns(self) -> dict[str, list[tuple[str, str]]]:
        """{table or view: [(column, declared type)]}, as introspected (masking and sampling read it)."""
        return dict(self._read_schema()[2])

    def primary_key(self, table: str) -> list[str]:
        """The table's primary-key columns, where the dialect reports them."""
        return list(self._read_schema()[3].get(table, []))

    def foreign_keys(self, table: str) -> list[tuple[str, list[str], list[str]]]:
        """(parent table, columns, parent columns) of the table's declared foreign keys."""
        return list(self._read_schema()[4].get(table, []))

    def quote(self, name: str) -> str:
        """An identifier quoted for this engine."""
        return self.engine.dialect.identifier_preparer.quote_identifier(name)

    def execute(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None, started: float | None = None
    ) -> QueryResult:
        """Run one read-only query within the time limit (counted from `started`, as SQLite's), at most
        `max_rows` rows and `limits.result_mb` of them. Failures: SQLError (forbidden, timeout,
        too_large, execution_error) or DatabaseError (the connection failed or dropped)."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        began, remaining = time_left(limit, started, sql)
        cap = self.max_rows if max_rows is None else max_rows
        refuse_forbidden_functions(sql, self.dialect)  # every query on a server or DuckDB file passes here
        return self._run(sql, remaining, cap, limit, began)

    def _run(self, sql: str, remaining: float, cap: int, limit: float, began: float) -> QueryResult:
        """The query on a pooled connection (`_run_on`); a driver's error is classified, and a
        connection in doubt is never reused."""
        with self._connection() as raw:
            try:
                columns, rows, truncated = self._run_on(raw, sql, remaining, cap, began)
            except SQLError:
                raw.invalidate()
                raise
            except Exception as exc:  # a driver's error: classify it, and never reuse a connection in doubt
                raw.invalidate()
                raise self._error(exc, sql, limit, time.monotonic() - began >= remaining) from None
        return QueryResult(columns=columns, rows=rows, truncated=truncated, elapsed_ms=(time.monotonic() - began) * 1000)

    def _run_on(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> Rows:
        """The engine's own read-only, time-limited run of one query on `raw`."""
        raise NotImplementedError

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> ServerDatabase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled DBAPI connection (set read-only at connect); connection failures are one-line DatabaseErrors."""
        if self._closed:
            raise DatabaseError("the database is closed")
        try:
            raw = self.engine.raw_connection()
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(f"cannot connect to {self.label}: {error_line(exc)}") from None
        try:
            yield raw
        finally:
            try:
                raw.close()  # back to the pool (or gone, when invalidated)
            except Exception:
                pass

    def _version(self, raw: Any) -> str:
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT version()")
            version = str(cursor.fetchone()[0])
            cursor.close()
            if self.url.engine != "duckdb":  # DuckDB autocommits: it has no transaction to end here
                raw.rollback()
        except Exception as exc:
            raise DatabaseError(f"cannot read from {self.label}: {error_line(exc)}") from None
        return version

    def _fetch(self, cursor: Any, cap: int, began: float, remaining: float) -> tuple[list[tuple[Any, ...]], bool]:
        """At most `cap` rows and `limits.result_mb` of them (as JSON). A batch is as many rows as the
        budget left holds at the largest row seen so far (one row first), so fetching never holds
        much more than the budget; a first row over it is an error, not an empty answer."""
        rows: list[tuple[Any, ...]] = []
        size = largest = 0
        budget = self.limits.result_mb * MB
        while True:
            want = 1 if not rows else max(1, min(_FETCH_BATCH, (budget - size) // max(1, largest)))
            batch = cursor.fetchmany(min(want, cap + 1 - len(rows)))
            if not batch:
                return rows, False
            for row in batch:
                if len(rows) >= cap:
                    return rows, True
                converted = tuple(_sqlite_value(v) for v in row)
                row_size = len(json.dumps(converted, default=str, ensure_ascii=False)) + 1
                if size + row_size > budget:
                    if not rows:
                        raise SQLError(
                            f"its first row is over the {self.limits.result_mb} MB result limit", kind="too_large", hint=LIMITS_HINT
                        )
                    return rows, True
                size += row_size
                largest = max(largest, row_size)
                rows.append(converted)
            if time.monotonic() - began > remaining + GRACE_S:
                raise SQLError("query stopped while its rows were fetched, at the time limit", kind="timeout")

    # -- schema -------------------------------------------------------------------------------

    def _read_schema(self) -> Reflected:
        """The schema as SQLAlchemy's inspector reports it (rag.reflect), read once."""
        if self._schema is None:
            self._schema = reflect(self.engine, self.label)
        return self._schema

    def _error(self, exc: BaseException, sql: str, limit: float, late: bool) -> SQLError | DatabaseError:
        message = error_line(exc)
        if ROW_OVER_LIMIT in message:
            return SQLError(
                f"the query goes over a resource limit: a row is over the {self.limits.result_mb} MB result limit",
                kind="too_large",
                sql=sql,
                hint=LIMITS_HINT,
            )
        kind = "timeout" if late else classify(getattr(exc, "orig", None) or exc)
        if kind == "lost":
            return DatabaseError(f"the connection to {self.label} was lost: {message}")
        return query_error(kind, message, limit=limit, sql=sql, engine=self.url.engine)


def create_writer(url: DatabaseURL) -> Engine:
    """A writable engine for rag.loader, the one place coderag writes to a server (`db load-demo`):
    the same drivers and connect timeouts, no read-only session. A DuckDB file is created if missing."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    assert url.scheme is not None
    require_modules(url.scheme.modules, url.scheme.extra)
    password = find_password(url)
    target = url.url.set(password=password) if password is not None else url.url
    if url.engine == "duckdb":
        assert url.path is not None
        return create_engine(target.set(database=str(url.path)), poolclass=NullPool, hide_parameters=True)
    args = (
        {"connect_timeout": CONNECT_TIMEOUT_S}
        if url.engine == "postgresql"
        else {"connect_timeout": CONNECT_TIMEOUT_S, "charset": "utf8mb4"}
    )
    return create_engine(target, connect_args=args, poolclass=NullPool, hide_parameters=True)
