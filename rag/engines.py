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
- DuckDB: queries run in a worker process with an address-space cap (rag/duckworker.py, through
  rag.sandbox's pool), which opens the file `read_only=True` with external access, extension
  loading and configuration changes disabled, a memory limit and no temporary directory (DuckDB
  would spill to `<file>.tmp` beside the user's file); it interrupts the query at the limit and is
  killed if it has not answered shortly after. The schema is read in this process.

Before any of that, `refuse_forbidden_functions` (rag.sqltools) refuses functions that reach
outside the database, and `connect` refuses a role that may write or is a superuser unless
`allow_privileged_role`. Rows are fetched in batches the result's byte budget can hold (one row
first), never the whole result; PostgreSQL stops at a row over the budget before sending it, a
first row over it is an error, and a cut-off query's connection is dropped rather than drained. Values come back as
SQLite's kinds (int, float, str, bytes, None), so results compare the same way on every engine.
Failures are the same `SQLError` kinds (forbidden, timeout, too_large, execution_error) and
`DatabaseError`s as SQLite's, each one line.

Passwords: a password in the URL is used and never shown (`DatabaseURL.masked`); without one,
`CODERAG_DB_PASSWORD`, then a pgpass-style file (`CODERAG_DB_PASSFILE`, else `PGPASSFILE` or
`~/.pgpass`: `host:port:database:user:password`, `*` matches anything). Registrations store
`DatabaseURL.public`, the URL without its password.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from rag.duckworker import sqlite_value as _sqlite_value
from rag.errors import ConfigError, DatabaseError, SQLError
from rag.sandbox import MB, Limits, QueryResult, run_in_worker
from rag.sqltools import refuse_forbidden_functions, split_statements

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
    privilege_notice: str | None  # a server role that may write, let in by --allow-privileged-role: answers say so

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


_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^\n]*@")  # to the line's last @: a password may hold @ / # ? and spaces


def mask(text: str) -> str:
    """Text with the password of any URL in it replaced by `***`: everything from the user name's
    `:` to the last `@` on the line (a password may hold an unencoded `@`, `/`, `#`, `?` or a
    space; masking too much is safe, too little is not).

    >>> mask("postgresql://me:s3cret@db:5432/shop")
    'postgresql://me:***@db:5432/shop'
    >>> mask("cannot parse mysql://me:a/b#c?d@e@db/shop")
    'cannot parse mysql://me:***@db/shop'
    """
    return _PASSWORD.sub(r"\1:***@", text)


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

        password, rest = _split_password(rest)
        try:
            url = make_url(f"{known.driver if known else 'sqlite'}://{rest}")
        except (ArgumentError, ValueError):
            raise ConfigError(f"cannot parse the database URL {mask(text)}") from None
        engine = known.engine if known else "sqlite"
        if not url.database:
            example = "duckdb:///FILE.duckdb" if engine == "duckdb" else "sqlite:///FILE.sqlite" if engine == "sqlite" else f"{scheme}://USER@HOST/DATABASE"
            raise ConfigError(f"the URL {mask(text)} names no database", hint=f"e.g. {example}")
        bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
        return cls(engine, bare, password if password is not None else url.password, known)

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


def _split_password(rest: str) -> tuple[str | None, str]:
    """(the password, the URL after `scheme://` without it). The password runs from the first `:`
    of the user part to the last `@`, so one holding an unencoded `@`, `/`, `#` or `?` is taken
    whole (SQLAlchemy would cut it at the first `@` and read the rest as the host). `%XX` escapes
    are decoded, as SQLAlchemy does.

    >>> _split_password("me:p@ss/w#rd@db:5432/shop")
    ('p@ss/w#rd', 'me@db:5432/shop')
    >>> _split_password("/path/to/file.duckdb")
    (None, '/path/to/file.duckdb')
    """
    from urllib.parse import unquote

    at = rest.rfind("@")
    user, colon, password = rest[: max(at, 0)].partition(":")
    if at < 0 or not colon or "/" in user or "@" in user:
        return None, rest
    return unquote(password), f"{user}@{rest[at + 1:]}"


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


def open_url(
    text: str | DatabaseURL, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None, allow_privileged_role: bool = False
) -> Database:
    """Open a database URL read-only (a `sqlite:///` URL opens the SQLite file in the worker). A
    server role that may write or is a superuser is refused unless `allow_privileged_role`."""
    from rag.sandbox import ReadOnlyDatabase

    url = text if isinstance(text, DatabaseURL) else DatabaseURL.parse(text)
    if url.engine == "sqlite":
        return ReadOnlyDatabase.open(url.path or "", timeout_s=timeout_s, max_rows=max_rows, limits=limits)
    return ServerDatabase.connect(url, timeout_s=timeout_s, max_rows=max_rows, limits=limits or Limits(), allow_privileged_role=allow_privileged_role)


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
        connect_args = {"read_only": True, "config": _duckdb_config(limits)}
        return create_engine(target.set(database=str(path)), connect_args=connect_args, poolclass=NullPool, hide_parameters=True)
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


def _duckdb_config(limits: Limits) -> dict[str, Any]:
    """DuckDB's read-only configuration: no outside files or URLs, no extensions, a memory limit,
    no temporary directory (it would spill to `<file>.tmp` beside the user's file), locked."""
    return {
        "enable_external_access": False, "autoload_known_extensions": False, "autoinstall_known_extensions": False,
        "allow_community_extensions": False, "memory_limit": f"{limits.memory_mb}MB", "threads": 2,
        "temp_directory": "", "lock_configuration": True,
    }  # fmt: skip


# The README's read-only role recipe ("Databases by URL"), quoted in the refusal of a privileged role.
PG_RECIPE = (
    "CREATE ROLE coderag_reader LOGIN PASSWORD '…'; GRANT CONNECT ON DATABASE {db} TO coderag_reader; "
    "GRANT USAGE ON SCHEMA public TO coderag_reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO coderag_reader; "
    "ALTER ROLE coderag_reader SET temp_file_limit = '1GB'"
)
MYSQL_RECIPE = "CREATE USER 'coderag_reader'@'%' IDENTIFIED BY '…'; GRANT SELECT ON {db}.* TO 'coderag_reader'@'%'"
# What makes a PostgreSQL role privileged, as one comma-separated line ('' for a read-only role).
_PG_PRIVILEGES = """
SELECT concat_ws(', ',
  CASE WHEN r.rolsuper THEN 'is a superuser' END,
  CASE WHEN r.rolcreaterole THEN 'may create roles' END,
  CASE WHEN r.rolcreatedb THEN 'may create databases' END,
  CASE WHEN r.rolreplication THEN 'may replicate' END,
  CASE WHEN r.rolbypassrls THEN 'bypasses row security' END,
  CASE WHEN has_database_privilege(current_database(), 'CREATE') THEN 'may create schemas' END,
  (SELECT 'is a member of ' || string_agg(m.rolname, ' and ') FROM pg_roles m
    WHERE m.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program', 'pg_signal_backend', 'pg_write_all_data')
      AND pg_has_role(current_user, m.oid, 'USAGE')),
  (SELECT 'may write to ' || min(format('%I.%I', n.nspname, c.relname)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') HAVING count(*) > 0)
), r.rolsuper FROM pg_roles r WHERE r.rolname = current_user
"""
_MYSQL_READ_PRIVILEGES = frozenset({"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES"})


def mysql_privileges(grants: list[str]) -> list[str]:
    """The privileges in `SHOW GRANTS` lines beyond reading (the GRANT OPTION counts too); role
    memberships (lines without ON) are not privileges themselves.

    >>> mysql_privileges(["GRANT USAGE ON *.* TO `r`@`%`", "GRANT SELECT (a, b), SHOW VIEW ON `shop`.* TO `r`@`%`"])
    []
    >>> mysql_privileges(["GRANT FILE ON *.* TO `r`@`%`", "GRANT SELECT ON `shop`.* TO `r`@`%` WITH GRANT OPTION"])
    ['FILE', 'GRANT OPTION']
    """
    found: list[str] = []
    for line in grants:
        match = re.match(r"\s*GRANT\s+(.+?)\s+ON\s+", line, re.IGNORECASE | re.DOTALL)
        if match is None:
            continue
        names = [" ".join(p.split()).upper() for p in re.sub(r"\([^)]*\)", "", match.group(1)).split(",")]
        found += [n for n in names if n and n not in _MYSQL_READ_PRIVILEGES and n not in found]
        if re.search(r"WITH\s+GRANT\s+OPTION", line, re.IGNORECASE) and "GRANT OPTION" not in found:
            found.append("GRANT OPTION")
    return found


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
    privilege_notice: str | None = None  # set when a privileged role was let in (--allow-privileged-role): answers carry it
    _sets_temp_files: bool = field(default=False, repr=False)  # PostgreSQL: the role may set temp_file_limit
    _schema: _Schema | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    path = None  # no SQLite file: callers that need one test for it

    @classmethod
    def connect(
        cls, url: DatabaseURL, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None, allow_privileged_role: bool = False
    ) -> ServerDatabase:
        """Connect once (a bad host, password or database fails here, in one line), read the server's
        version, and refuse a role that may write or is a superuser unless `allow_privileged_role`."""
        assert url.scheme is not None
        _require(url.scheme.modules, url.scheme.extra)
        limits = limits or Limits()
        engine = _create_engine(url, find_password(url), timeout_s, limits)
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

    def _privileges(self, raw: Any) -> str:
        """What the connection's role may do beyond reading, as words ('' for a read-only role; DuckDB has no roles)."""
        if self.url.engine == "duckdb":
            return ""
        try:
            cursor = raw.cursor()
            if self.url.engine == "postgresql":
                cursor.execute(_PG_PRIVILEGES)
                found, superuser = cursor.fetchone()
                self._sets_temp_files = bool(superuser) or self._may_set("temp_file_limit", cursor)
                words = str(found or "")
            else:
                cursor.execute("SHOW GRANTS")
                extra = mysql_privileges([str(row[0]) for row in cursor.fetchall()])
                words = f"holds {', '.join(extra)}" if extra else ""
            cursor.close()
            raw.rollback()
        except Exception as exc:
            raise DatabaseError(f"cannot read the privileges of the role {self.url.url.username or ''} on {self.label}: {error_line(exc)}") from None
        return words

    @staticmethod
    def _may_set(parameter: str, cursor: Any) -> bool:
        """PostgreSQL 15+: whether the role was granted SET on a superuser-only parameter."""
        try:
            cursor.execute("SELECT has_parameter_privilege(%s, 'SET')", (parameter,))
            return bool(cursor.fetchone()[0])
        except Exception:
            cursor.connection.rollback()
            return False

    def _admit(self, privileges: str, allowed: bool) -> None:
        """Refuse a privileged role in one line that quotes the read-only role recipe, or note that it was let in."""
        role = self.url.url.username or "(default)"
        if allowed:
            self.privilege_notice = (
                f"{self.label} connects as role {role}, which {privileges}: allowed by --allow-privileged-role; "
                "only coderag's read-only transaction and its refusals stand between a query and the server"
            )
            return
        recipe = (PG_RECIPE if self.url.engine == "postgresql" else MYSQL_RECIPE).format(db=self.url.url.database)
        first, _, more = privileges.partition(", ")
        raise DatabaseError(  # one line the CLI shows whole (it cuts at 500 characters): the first reason, then the recipe
            f"refused: role {role} {first}{' (and more)' if more else ''}; connect as a read-only role, README \"Databases by URL\": {recipe}",
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
        refuse_forbidden_functions(sql, self.dialect)  # every query on a server or DuckDB file passes here
        if self.url.engine == "duckdb":
            return self._run_duckdb(sql, remaining, cap, limit, began)
        runner = {"postgresql": self._run_postgres, "mysql": self._run_mysql}[self.url.engine]
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
        temp_files = ", set_config('temp_file_limit', %(temp)s, true)" if self._sets_temp_files else ""
        try:
            conn.rollback()
            conn.execute(
                "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true),"
                " set_config('idle_in_transaction_session_timeout', %(idle)s, true), set_config('work_mem', %(mem)s, true)" + temp_files,
                {"ms": str(ms), "idle": str(ms + int(GRACE_S * 2000)), "mem": f"{max(1, self.limits.memory_mb // 4)}MB",
                 "temp": f"{_temp_file_mb(self.limits)}MB"},
            )
            watchdog.start()
            with conn.cursor(name="coderag_query") as cursor:  # a server-side cursor: DECLARE takes only a query
                cursor.execute(_rows_within(sql, self.limits.result_mb * MB))
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
        killed = threading.Event()
        watchdog = threading.Timer(remaining + GRACE_S, self._kill_query, args=(conn.thread_id(), killed))
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
            return columns, rows, truncated
        warnings = getattr(getattr(cursor, "_result", None), "warning_count", 0)
        cursor.close()
        # A query stopped at a limit must not pass for an answer: SLEEP() interrupted returns 1, and
        # a string function whose result would pass max_allowed_packet returns NULL with a warning.
        if killed.is_set() or time.monotonic() - began > remaining + GRACE_S:
            raise SQLError("query stopped after the time limit", kind="timeout", sql=sql)
        if warnings:
            with conn.cursor() as check:
                check.execute("SHOW WARNINGS")
                codes = {int(row[1]) for row in check.fetchall()}
            if codes & _MYSQL_LIMIT_WARNINGS:
                raise SQLError("a value went over the server's max_allowed_packet; MySQL returned NULL in its place", kind="too_large", sql=sql)
        conn.rollback()
        return columns, rows, truncated

    def _kill_query(self, thread_id: int, killed: threading.Event) -> None:
        """Stop a MySQL/MariaDB query that outlived its limit, from a second connection (users may kill their own)."""
        killed.set()
        try:
            with self._connection() as other:
                cursor = other.cursor()
                cursor.execute(f"KILL QUERY {int(thread_id)}")
                cursor.close()
        except Exception:
            pass  # the query ended meanwhile, or the server is gone: the read timeout still applies

    def _run_duckdb(self, sql: str, remaining: float, cap: int, limit: float, began: float) -> QueryResult:
        """In a worker process with an address-space cap (rag/duckworker.py), killed at the limit plus the sandbox's grace."""
        path = self.url.path
        assert path is not None
        request = {
            "path": str(path), "config": _duckdb_config(self.limits), "sql": sql, "timeout_s": remaining, "max_rows": cap,
            "max_bytes": self.limits.result_mb * MB,
        }  # fmt: skip
        answer = run_in_worker(self.limits, request, remaining, "duckdb")
        if not answer["ok"]:
            kind, message = answer["kind"], answer["message"]
            if kind == "database":
                raise DatabaseError(f"cannot read {self.label}: {message}")
            raise _query_error(kind, message, limit=limit, sql=sql, engine="duckdb")
        rows = [tuple(row) for row in answer["rows"]]
        return QueryResult(answer["columns"], rows, answer["truncated"], elapsed_ms=(time.monotonic() - began) * 1000)

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
                        raise SQLError(f"its first row is over the {self.limits.result_mb} MB result limit", kind="too_large", hint=_LIMITS_HINT)
                    return rows, True
                size += row_size
                largest = max(largest, row_size)
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
                with warnings.catch_warnings(), self.engine.connect() as conn:
                    warnings.filterwarnings("ignore", message=".*support reflection on indices")  # duckdb-engine's, on every describe
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
        if _ROW_OVER_LIMIT in message:
            return SQLError(f"the query goes over a resource limit: a row is over the {self.limits.result_mb} MB result limit", kind="too_large",
                            sql=sql, hint=_LIMITS_HINT)
        kind = "timeout" if late else _classify(getattr(exc, "orig", None) or exc)
        if kind == "lost":
            return DatabaseError(f"the connection to {self.label} was lost: {message}")
        return _query_error(kind, message, limit=limit, sql=sql, engine=self.url.engine)


_LIMITS_HINT = "results up to execution.max_result_mb, memory up to execution.max_memory_mb"


def _query_error(kind: str, message: str, *, limit: float, sql: str, engine: str) -> SQLError:
    """A failed query as its one-line SQLError, by kind (timeout, forbidden, too_large, else the engine's error)."""
    if kind == "timeout":
        return SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
    if kind == "forbidden":
        return SQLError(f"refused: {message} (the database is read-only)", kind="forbidden", sql=sql)
    if kind == "too_large":
        return SQLError(f"the query goes over a resource limit: {message}", kind="too_large", sql=sql, hint=_LIMITS_HINT)
    return SQLError(f"{engine} error: {message}", kind="execution_error", sql=sql)
_ROW_OVER_LIMIT = "bytes: a row over the coderag result limit"
_MYSQL_LIMIT_WARNINGS = {1301}  # ER_WARN_ALLOWED_PACKET_OVERFLOWED: the function returned NULL instead


def _temp_file_mb(limits: Limits) -> int:
    """PostgreSQL's temp_file_limit for one query, where the role may set it: sorts and hashes that
    spill past work_mem stop there instead of filling the server's disk."""
    return max(64, 4 * limits.memory_mb)


def _rows_within(sql: str, max_bytes: int) -> str:
    """The query wrapped so that PostgreSQL itself stops at a row over `max_bytes` (an error naming
    `_ROW_OVER_LIMIT`) before sending it: the client never holds such a row.

    A row's stored size (`pg_column_size`) is cheap; its text (what is sent) can be larger where
    values stay compressed (at most ~256× with LZ4), so rows over 1/256 of the limit are measured
    as text too. The cast of a non-constant text to integer is the one error plain SQL can raise on
    demand; the subquery keeps the query's own order, its `OFFSET 0` keeps PostgreSQL from pulling
    it up and computing each value once per reference, and the newline ends a trailing `--` comment.
    """
    statements = split_statements(sql)
    body = statements[0] if len(statements) == 1 else sql
    limit = int(max_bytes)
    return (
        f"SELECT _coderag_row.* FROM (SELECT * FROM (\n{body}\n) AS _coderag_query OFFSET 0) AS _coderag_row, LATERAL (SELECT pg_column_size(_coderag_row) AS n) AS _coderag_size "
        f"WHERE CASE WHEN _coderag_size.n > {limit} OR (_coderag_size.n > {limit // 256} AND octet_length(_coderag_row::text) > {limit}) "
        f"THEN CAST(_coderag_size.n::text || ' {_ROW_OVER_LIMIT}' AS integer) = 0 ELSE true END"
    )


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


def open_location(
    location: str | Path, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None, allow_privileged_role: bool = False
) -> Database:
    """A database URL through `open_url`, anything else as a SQLite file (rag.sandbox)."""
    from rag.sandbox import ReadOnlyDatabase

    if isinstance(location, str) and is_database_url(location):
        return open_url(location, timeout_s=timeout_s, max_rows=max_rows, limits=limits, allow_privileged_role=allow_privileged_role)
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
