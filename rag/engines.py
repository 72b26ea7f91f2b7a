"""One way to open a database: a SQLite file or a database by URL (PostgreSQL, MySQL/MariaDB,
DuckDB), read-only and time-limited, behind one interface (`Database`).

    postgresql://user@host:5432/db     mysql://user@host/db (MariaDB too)     duckdb:///file.duckdb
    sqlite:///file.sqlite (and plain paths) stay with rag.sandbox's worker process

Each engine enforces read-only access and the time limit itself (README "Databases by URL"):
rag.engine_postgres, rag.engine_mysql and rag.engine_duckdb say how, on the ground they share
(rag.servers: privileged roles refused, rows fetched within the result's byte budget, values as
SQLite's kinds, failures as SQLite's `SQLError` kinds). URLs and passwords: rag.urls.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from rag.engine_duckdb import DuckDBDatabase
from rag.engine_mysql import MySQLDatabase
from rag.engine_postgres import PostgresDatabase
from rag.limits import Limits, QueryResult
from rag.sandbox import ReadOnlyDatabase
from rag.servererrors import error_line
from rag.servers import ServerDatabase, create_writer
from rag.urls import DatabaseURL, is_database_url

# error_line and create_writer are rag.loader's (a writer for `db load-demo`), named here with the rest of the engines
__all__ = ["Database", "DatabaseURL", "ServerDatabase", "create_writer", "error_line", "is_database_url", "open_location", "open_url"]

_SERVERS: dict[str, type[ServerDatabase]] = {"postgresql": PostgresDatabase, "mysql": MySQLDatabase, "duckdb": DuckDBDatabase}


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

    def execute(
        self, sql: str, *, timeout_s: float | None = None, max_rows: int | None = None, started: float | None = None
    ) -> QueryResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...


def open_url(
    text: str | DatabaseURL,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 1000,
    limits: Limits | None = None,
    allow_privileged_role: bool = False,
) -> Database:
    """Open a database URL read-only (a `sqlite:///` URL opens the SQLite file in the worker). A
    server role that may write or is a superuser is refused unless `allow_privileged_role`."""
    url = text if isinstance(text, DatabaseURL) else DatabaseURL.parse(text)
    if url.engine == "sqlite":
        return ReadOnlyDatabase.open(url.path or "", timeout_s=timeout_s, max_rows=max_rows, limits=limits)
    return _SERVERS[url.engine].connect(
        url, timeout_s=timeout_s, max_rows=max_rows, limits=limits or Limits(), allow_privileged_role=allow_privileged_role
    )


def open_location(
    location: str | Path, *, timeout_s: float = 5.0, max_rows: int = 1000, limits: Limits | None = None, allow_privileged_role: bool = False
) -> Database:
    """A database URL through `open_url`, anything else as a SQLite file (rag.sandbox)."""
    if isinstance(location, str) and is_database_url(location):
        return open_url(location, timeout_s=timeout_s, max_rows=max_rows, limits=limits, allow_privileged_role=allow_privileged_role)
    return ReadOnlyDatabase.open(location, timeout_s=timeout_s, max_rows=max_rows, limits=limits)
