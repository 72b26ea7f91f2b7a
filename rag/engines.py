"""Databases by URL: PostgreSQL, MySQL/MariaDB and DuckDB through SQLAlchemy, read-only and
time-limited by the engine itself, behind the same interface as SQLite's `ReadOnlyDatabase`.

    postgresql://user@host:5432/db     mysql://user@host/db (MariaDB too)     duckdb:///file.duckdb
    sqlite:///file.sqlite (and plain paths) stay with rag.sandbox's worker process

As in SQLAlchemy, `duckdb:///x.duckdb` and `sqlite:///x.sqlite` are relative paths and
`duckdb:////abs/x.duckdb` absolute ones.

What each engine enforces on every query (README "Databases by URL"):

- PostgreSQL: the session is `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`; each query runs
  in its own `BEGIN READ ONLY` transaction with `statement_timeout`, `lock_timeout` and
  `idle_in_transaction_session_timeout` set local to it, through a server-side cursor
  (`DECLARE … CURSOR`, which takes nothing but a query), and the transaction is always rolled
  back, so not even a `set_config` survives it. A watchdog cancels the backend if the server has
  not stopped by the limit plus `GRACE_S`.
- MySQL / MariaDB: `SET SESSION TRANSACTION READ ONLY` and `max_statement_time` (MariaDB) or
  `max_execution_time` (MySQL) are set again before every query, which runs in
  `START TRANSACTION READ ONLY` through an unbuffered cursor and is rolled back; a watchdog sends
  `KILL QUERY` from a second connection at the limit plus `GRACE_S` (a statement can lift its own
  `max_statement_time`); the socket's read timeout is later still.
- DuckDB: the file is opened `read_only=True` with external access, extension loading and
  configuration changes disabled, a memory limit and no temporary directory (DuckDB would spill
  to `<file>.tmp` beside the user's file); a timer interrupts the query at the limit.

Rows are fetched `fetchmany` at a time up to the row cap and the result's byte limit, never the
whole result; a cut-off query's connection is dropped rather than drained. Values come back as
SQLite's kinds (int, float, str, bytes, None), so results compare the same way on every engine.
Failures are the same `SQLError` kinds (forbidden, timeout, too_large, execution_error) and
`DatabaseError`s as SQLite's, each one line.

Passwords: a password in the URL is used and never shown (`DatabaseURL.masked`); without one,
`CODERAG_DB_PASSWORD`, then a pgpass-style file (`CODERAG_DB_PASSFILE`, else `PGPASSFILE` or
`~/.pgpass`: `host:port:database:user:password`, `*` matches anything). Registrations store
`DatabaseURL.public`, the URL without its password.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ConfigError, DatabaseError, SQLError
from rag.sandbox import Limits, QueryResult

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["Database", "DatabaseURL", "ServerDatabase", "create_writer", "error_line", "is_database_url", "mask", "open_url"]

GRACE_S = 0.5  # the engine's own limit should stop a query; the client-side watchdog acts this much later
CONNECT_TIMEOUT_S = 5
MAX_TABLES = 300  # tables read into the schema: a schema of thousands stays bounded (a prompt holds far fewer)
_FETCH_BATCH = 200
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class _Scheme:
    engine: str  # postgresql | mysql | duckdb
    driver: str  # SQLAlchemy's drivername
    extra: str  # pip install 'coderag[EXTRA]'
    modules: tuple[str, ...]  # what the driver needs importable


_PG = _Scheme("postgresql", "postgresql+psycopg", "postgres", ("sqlalchemy", "psycopg"))
_MY = _Scheme("mysql", "mysql+pymysql", "mysql", ("sqlalchemy", "pymysql"))
_DUCK = _Scheme("duckdb", "duckdb", "duckdb", ("sqlalchemy", "duckdb", "duckdb_engine"))
_SCHEMES = {
    "postgresql": _PG, "postgres": _PG, "postgresql+psycopg": _PG,
    "mysql": _MY, "mariadb": _MY, "mysql+pymysql": _MY, "mariadb+pymysql": _MY,
    "duckdb": _DUCK,
}  # fmt: skip
DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "duckdb": "duckdb", "sqlite": "sqlite"}  # engine → sqlglot dialect


class Database(Protocol):
    """What the chain, `sql`, `ask`, `db add` and the UI need of an open database, on any engine."""

    timeout_s: float
    max_rows: int
    limits: Limits

    @property
    def dialect(self) -> str: ...  # sqlglot's name: sqlite, postgres, mysql, duckdb

    @property
    def closed(self) -> bool: ...

    def schema_sql(self) -> str: ...

    def table_names(self) -> list[str]: ...

    def execute(self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None, started: float | None = None) -> QueryResult: ...

    def close(self) -> None: ...


def is_database_url(text: str) -> bool:
    """Whether `text` looks like `scheme://…` (a URL, not a file path).

    >>> is_database_url("postgresql://me@db/shop"), is_database_url("shop.sqlite"), is_database_url("C:/x")
    (True, False, False)
    """
    return bool(_URL.match(text or ""))


def mask(text: str) -> str:
    """A URL typed by the user with any password replaced by `***`.

    >>> mask("postgresql://me:s3cret@db:5432/shop")
    'postgresql://me:***@db:5432/shop'
    """
    return re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\s/]*@", r"\1:***@", text)  # to the last @: passwords may hold one


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. `engine`: postgresql, mysql, duckdb or sqlite. The password is kept
    apart from the URL, so printing or storing `masked` / `public` never shows it."""

    engine: str
    url: URL  # without the password
    password: str | None = field(default=None, repr=False)
    scheme: _Scheme | None = None

    @classmethod
    def parse(cls, text: str) -> DatabaseURL:
        """Parse and check the scheme; an unsupported one is a ConfigError naming the supported ones."""
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        known = _SCHEMES.get(scheme)
        if scheme != "sqlite" and known is None:
            raise ConfigError(
                f"unsupported database URL scheme '{scheme}://'",
                hint="use postgresql://, mysql:// (MariaDB too), duckdb:///FILE or sqlite:///FILE, or a SQLite file path",
            )
        _require(("sqlalchemy",), known.extra if known else "postgres")
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(f"{known.driver if known else 'sqlite'}://{rest}")
        except (ArgumentError, ValueError):
            raise ConfigError(f"cannot parse the database URL {mask(text)}") from None
        engine = known.engine if known else "sqlite"
        if not url.database:
            example = "duckdb:///FILE.duckdb" if engine == "duckdb" else "sqlite:///FILE.sqlite" if engine == "sqlite" else f"{scheme}://USER@HOST/DATABASE"
            raise ConfigError(f"the URL {mask(text)} names no database", hint=f"e.g. {example}")
        bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)  # url.set(password=None) keeps it
        return cls(engine, bare, url.password, known)

    @property
    def dialect(self) -> str:
        """sqlglot's name for the engine's SQL."""
        return DIALECTS[self.engine]

    @property
    def path(self) -> Path | None:
        """The file of a DuckDB or SQLite URL."""
        return Path(self.url.database or "").expanduser() if self.engine in ("duckdb", "sqlite") else None

    @property
    def public(self) -> str:
        """The URL as the user would type it, without any password (registrations, store keys, messages)."""
        rest = self.url.render_as_string(hide_password=True).split("://", 1)[1]
        return f"{self.engine}://{rest}"

    @property
    def masked(self) -> str:
        """For messages: `public`, with `:***` where a password was given."""
        if self.password is None or "@" not in self.public:
            return self.public
        scheme, rest = self.public.split("://", 1)
        user, _, host = rest.partition("@")
        return f"{scheme}://{user}:***@{host}"


def _require(modules: tuple[str, ...], extra: str) -> None:
    """A missing driver is a one-line ConfigError naming the extra that installs it."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"the Python package '{module}' is not installed", hint=f"pip install 'coderag[{extra}]'") from None


# -- passwords -----------------------------------------------------------------------------------


def find_password(url: DatabaseURL) -> str | None:
    """The URL's password, else `CODERAG_DB_PASSWORD`, else the first matching pgpass-style line
    (None for a file: DuckDB and SQLite have no passwords)."""
    if url.engine not in ("postgresql", "mysql"):
        return None
    if url.password is not None:
        return url.password
    if os.environ.get("CODERAG_DB_PASSWORD"):
        return os.environ["CODERAG_DB_PASSWORD"]
    name = os.environ.get("CODERAG_DB_PASSFILE") or os.environ.get("PGPASSFILE") or str(Path.home() / ".pgpass")
    return _from_passfile(Path(name), url)


def _from_passfile(path: Path, url: DatabaseURL) -> str | None:
    """`host:port:database:user:password` lines (`*` matches anything, `\\:` is a colon), as libpq reads ~/.pgpass."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    default_port = {"postgresql": 5432, "mysql": 3306}.get(url.engine, 0)
    wanted = [url.url.host or "localhost", str(url.url.port or default_port), url.url.database or "", url.url.username or ""]
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.replace("\\:", ":").replace("\\\\", "\\") for f in re.split(r"(?<!\\):", line, maxsplit=4)]
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], wanted)):
            return fields[4]
    return None


# -- opening ---------------------------------------------------------------------------------------


def open_url(text: str | DatabaseURL, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None) -> Database:
    """Open a database URL read-only (a `sqlite:///` URL opens the SQLite file in the worker)."""
    from rag.sandbox import ReadOnlyDatabase

    url = text if isinstance(text, DatabaseURL) else DatabaseURL.parse(text)
    if url.engine == "sqlite":
        return ReadOnlyDatabase.open(url.path or "", timeout_s=timeout_s, max_rows=max_rows, limits=limits)
    return ServerDatabase.connect(url, timeout_s=timeout_s, max_rows=max_rows, limits=limits or Limits())


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


def _create_engine(url: DatabaseURL, password: str | None, timeout_s: float, limits: Limits) -> Engine:
    """The SQLAlchemy engine with each driver's connect-time limits (and DuckDB's read-only configuration)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    target = url.url.set(password=password) if password is not None else url.url
    if url.engine == "duckdb":
        path = url.path
        assert path is not None
        if not path.is_file():
            raise DatabaseError(f"DuckDB database not found: {path}")
        config = {
            "enable_external_access": False, "autoload_known_extensions": False, "autoinstall_known_extensions": False,
            "allow_community_extensions": False, "memory_limit": f"{limits.memory_mb}MB", "threads": 2,
            "temp_directory": "", "lock_configuration": True,
        }  # fmt: skip
        return create_engine(target.set(database=str(path)), connect_args={"read_only": True, "config": config}, poolclass=NullPool, hide_parameters=True)
    if url.engine == "postgresql":
        args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "coderag"}
    else:
        read_timeout = int(timeout_s + 2 * GRACE_S + 2)  # after the server's limit and the watchdog's KILL QUERY
        args = {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": read_timeout, "write_timeout": read_timeout, "charset": "utf8mb4"}
    if url.engine == "mysql":  # a session of its own per query: temporary tables, variables and locks a query leaves end with it
        return create_engine(target, connect_args=args, poolclass=NullPool, hide_parameters=True)
    engine = create_engine(target, connect_args=args, pool_size=2, max_overflow=2, pool_pre_ping=True, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_connection.autocommit = False
        dbapi_connection.read_only = True  # psycopg opens every transaction with BEGIN READ ONLY

    return engine


def create_writer(url: DatabaseURL) -> Engine:
    """A writable engine for rag.loader, the one place coderag writes to a server (`db load-demo`):
    the same drivers and connect timeouts, no read-only session. A DuckDB file is created if missing."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    assert url.scheme is not None
    _require(url.scheme.modules, url.scheme.extra)
    password = find_password(url)
    target = url.url.set(password=password) if password is not None else url.url
    if url.engine == "duckdb":
        assert url.path is not None
        return create_engine(target.set(database=str(url.path)), poolclass=NullPool, hide_parameters=True)
    args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.engine == "postgresql" else {"connect_timeout": CONNECT_TIMEOUT_S, "charset": "utf8mb4"}
    return create_engine(target, connect_args=args, poolclass=NullPool, hide_parameters=True)


@dataclass
class ServerDatabase:
    """A PostgreSQL, MySQL/MariaDB or DuckDB database opened read-only through SQLAlchemy."""

    url: DatabaseURL
    engine: Engine = field(repr=False)
    timeout_s: float = 5.0
    max_rows: int = 1000
    limits: Limits = field(default_factory=Limits)
    server: str = ""  # e.g. "10.11.19-MariaDB", read once at connect
    _schema: _Schema | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    path = None  # no SQLite file: callers that need one test for it

    @classmethod
    def connect(cls, url: DatabaseURL, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None) -> ServerDatabase:
        """Connect once (a bad host, password or database fails here, in one line) and read the server's version."""
        assert url.scheme is not None
        _require(url.scheme.modules, url.scheme.extra)
        limits = limits or Limits()
        engine = _create_engine(url, find_password(url), timeout_s, limits)
        db = cls(url=url, engine=engine, timeout_s=timeout_s, max_rows=max_rows, limits=limits)
        try:
            with db._connection() as raw:
                db.server = db._version(raw)
        except BaseException:
            db.close()
            raise
        return db

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

    def execute(self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None, started: float | None = None) -> QueryResult:
        """Run one read-only query within the time limit (counted from `started`, as SQLite's), at most
        `max_rows` rows and `limits.result_mb` of them. Failures: SQLError (forbidden, timeout,
        too_large, execution_error) or DatabaseError (the connection failed or dropped)."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        began = time.monotonic()
        remaining = (began if started is None else started) + limit - began
        if remaining <= 0:
            raise SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
        cap = self.max_rows if max_rows is None else max_rows
        runner = {"postgresql": self._run_postgres, "mysql": self._run_mysql, "duckdb": self._run_duckdb}[self.url.engine]
        with self._connection() as raw:
            try:
                columns, rows, truncated = runner(raw, sql, remaining, cap, began)
            except SQLError:
                raw.invalidate()
                raise
            except Exception as exc:  # a driver's error: classify it, and never reuse a connection in doubt
                raw.invalidate()
                raise self._error(exc, sql, limit, time.monotonic() - began >= remaining) from None
        return QueryResult(columns=columns, rows=rows, truncated=truncated, elapsed_ms=(time.monotonic() - began) * 1000)

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

    # -- per engine ---------------------------------------------------------------------------

    def _run_postgres(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        conn = raw.driver_connection  # psycopg.Connection: not autocommit, read_only (BEGIN READ ONLY)
        ms = max(1, int(remaining * 1000))
        watchdog = threading.Timer(remaining + GRACE_S, conn.cancel)
        watchdog.daemon = True
        try:
            conn.rollback()
            conn.execute(
                "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true),"
                " set_config('idle_in_transaction_session_timeout', %(idle)s, true), set_config('work_mem', %(mem)s, true)",
                {"ms": str(ms), "idle": str(ms + int(GRACE_S * 2000)), "mem": f"{max(1, self.limits.memory_mb // 4)}MB"},
            )
            watchdog.start()
            with conn.cursor(name="coderag_query") as cursor:  # a server-side cursor: DECLARE takes only a query
                cursor.itersize = _FETCH_BATCH
                cursor.execute(sql)
                columns = [d.name for d in cursor.description or []]
                rows, truncated = self._fetch(cursor, cap, began, remaining)
        finally:
            watchdog.cancel()
            conn.rollback()
        return columns, rows, truncated

    def _run_mysql(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        import pymysql.cursors

        conn = raw.driver_connection
        with conn.cursor() as setup:
            setup.execute("ROLLBACK")
            setup.execute("SET SESSION TRANSACTION READ ONLY")
            if "mariadb" in self.server.lower():
                setup.execute(f"SET SESSION max_statement_time = {max(0.001, remaining):.3f}")
            else:
                setup.execute(f"SET SESSION max_execution_time = {max(1, int(remaining * 1000))}")
            setup.execute("START TRANSACTION READ ONLY")
        watchdog = threading.Timer(remaining + GRACE_S, self._kill_query, args=(conn.thread_id(),))
        watchdog.daemon = True
        watchdog.start()
        cursor = conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stream from the server
        try:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows, truncated = self._fetch(cursor, cap, began, remaining)
        except BaseException:
            _abandon(cursor)
            raise
        finally:
            watchdog.cancel()
        if truncated:
            _abandon(cursor)
            raw.invalidate()  # the rest of an unbuffered result would have to be read to reuse it
        else:
            cursor.close()
            conn.rollback()
        return columns, rows, truncated

    def _kill_query(self, thread_id: int) -> None:
        """Stop a MySQL/MariaDB query that outlived its limit, from a second connection (users may kill their own)."""
        try:
            with self._connection() as other:
                cursor = other.cursor()
                cursor.execute(f"KILL QUERY {int(thread_id)}")
                cursor.close()
        except Exception:
            pass  # the query ended meanwhile, or the server is gone: the read timeout still applies

    def _run_duckdb(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        connection = raw.driver_connection
        timer = threading.Timer(remaining, connection.interrupt)
        timer.daemon = True
        timer.start()
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows, truncated = self._fetch(cursor, cap, began, remaining)
        finally:
            timer.cancel()
            cursor.close()
        return columns, rows, truncated

    def _fetch(self, cursor: Any, cap: int, began: float, remaining: float) -> tuple[list[tuple[Any, ...]], bool]:
        """At most `cap` rows and `limits.result_mb` of them (as JSON), a batch at a time."""
        rows: list[tuple[Any, ...]] = []
        size, budget = 0, self.limits.result_mb * 2**20
        while True:
            batch = cursor.fetchmany(min(_FETCH_BATCH, cap + 1 - len(rows)))
            if not batch:
                return rows, False
            for row in batch:
                if len(rows) >= cap:
                    return rows, True
                converted = tuple(_sqlite_value(v) for v in row)
                size += len(json.dumps(converted, default=str, ensure_ascii=False)) + 1
                if size > budget:
                    return rows, True
                rows.append(converted)
            if time.monotonic() - began > remaining + GRACE_S:
                raise SQLError("query stopped while its rows were fetched, at the time limit", kind="timeout")

    # -- schema -------------------------------------------------------------------------------

    def _read_schema(self) -> _Schema:
        """DDL, table names and columns of the default schema from SQLAlchemy's inspector, for at most
        `MAX_TABLES` tables and views. Keys and foreign keys are added where the dialect reports them."""
        if self._schema is None:
            from sqlalchemy import inspect

            try:
                with self.engine.connect() as conn:
                    inspector = inspect(conn)
                    tables = sorted(inspector.get_table_names())[:MAX_TABLES]
                    views = sorted(inspector.get_view_names())[: max(0, MAX_TABLES - len(tables))]
                    names = tables + views
                    columns = inspector.get_multi_columns(filter_names=names, kind=_all_kinds()) if names else {}
                    keys = _optional(lambda: inspector.get_multi_pk_constraint(filter_names=tables)) if tables else {}
                    foreign = _optional(lambda: inspector.get_multi_foreign_keys(filter_names=tables)) if tables else {}
                    conn.rollback()
            except Exception as exc:
                raise DatabaseError(f"cannot read the schema of {self.label}: {error_line(exc)}") from None
            by_name = {name: cols for (_, name), cols in columns.items()}
            described = {name: [(c["name"], _type_name(c["type"], self.engine.dialect)) for c in by_name.get(name, [])] for name in names}
            ddl = [self._create_statement(name, by_name.get(name, []), keys.get((None, name)), foreign.get((None, name), []), name in views) for name in names]
            primary = {name: list((keys.get((None, name)) or {}).get("constrained_columns") or []) for name in tables}
            links = {name: [(fk["referred_table"], list(fk["constrained_columns"]), list(fk["referred_columns"])) for fk in foreign.get((None, name), [])]
                     for name in tables}
            self._schema = ("\n\n".join(ddl), tables, described, primary, links)
        return self._schema

    def _create_statement(self, name: str, columns: list[dict[str, Any]], key: dict[str, Any] | None, foreign: list[dict[str, Any]], view: bool) -> str:
        lines = [f"  {self.quote(c['name'])} {_type_name(c['type'], self.engine.dialect)}{'' if c.get('nullable', True) else ' NOT NULL'}" for c in columns]
        if key and key.get("constrained_columns"):
            lines.append(f"  PRIMARY KEY ({', '.join(self.quote(c) for c in key['constrained_columns'])})")
        for fk in foreign:
            mine = ", ".join(self.quote(c) for c in fk["constrained_columns"])
            theirs = ", ".join(self.quote(c) for c in fk["referred_columns"])
            lines.append(f"  FOREIGN KEY ({mine}) REFERENCES {self.quote(fk['referred_table'])} ({theirs})")
        body = ",\n".join(lines)
        return f"CREATE {'VIEW' if view else 'TABLE'} {self.quote(name)} (\n{body}\n);"

    def _error(self, exc: BaseException, sql: str, limit: float, late: bool) -> SQLError | DatabaseError:
        message = error_line(exc)
        kind = "timeout" if late else _classify(getattr(exc, "orig", None) or exc)
        if kind == "lost":
            return DatabaseError(f"the connection to {self.label} was lost: {message}")
        if kind == "timeout":
            return SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
        if kind == "forbidden":
            return SQLError(f"refused: {message} (the database is read-only)", kind="forbidden", sql=sql)
        if kind == "too_large":
            return SQLError(f"the query goes over a resource limit: {message}", kind="too_large", sql=sql)
        return SQLError(f"{self.url.engine} error: {message}", kind="execution_error", sql=sql)


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


def _classify(orig: BaseException) -> str | None:
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


# DDL, tables, {name: [(column, type)]}, {table: primary key}, {table: [(parent, columns, parent columns)]}
_Schema = tuple[str, list[str], dict[str, list[tuple[str, str]]], dict[str, list[str]], dict[str, list[tuple[str, list[str], list[str]]]]]


def open_location(location: str | Path, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None) -> Database:
    """A database URL through `open_url`, anything else as a SQLite file (rag.sandbox)."""
    from rag.sandbox import ReadOnlyDatabase

    if isinstance(location, str) and is_database_url(location):
        return open_url(location, timeout_s=timeout_s, max_rows=max_rows, limits=limits)
    return ReadOnlyDatabase.open(location, timeout_s=timeout_s, max_rows=max_rows, limits=limits)


def _abandon(cursor: Any) -> None:
    """Leave an unbuffered pymysql result unread: its connection is dropped instead, and pymysql
    would otherwise try to drain it (and fail, printing to stderr) when it is collected."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False


def _all_kinds() -> Any:
    from sqlalchemy.engine.reflection import ObjectKind

    return ObjectKind.ANY


def _optional(read: Any) -> dict[Any, Any]:
    """Keys or foreign keys where the dialect can report them (duckdb-engine cannot): the schema works without."""
    try:
        return read()
    except Exception:
        return {}


def _type_name(column_type: Any, dialect: Any) -> str:
    try:
        return column_type.compile(dialect=dialect)
    except Exception:
        return str(column_type)


def _sqlite_value(value: Any) -> Any:
    """A driver's value as SQLite would hold it: numbers, text, bytes or None."""
    if value is None or isinstance(value, (int, float, str, bytes)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, (uuid.UUID, datetime.timedelta)):
        return str(value)
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=str)
    return str(value)
