"""Copy a SQLite database into a database by URL (`coderag db load-demo`): the demo databases on a
real PostgreSQL, MySQL/MariaDB or DuckDB, and the same data for `eval run --db-url` on another engine.

This is the one place coderag writes to a server, so it takes a role that may create tables (the
URL's user, e.g. the owner in docs/engines.md, "A read-only role"), never the read-only one it asks with. The
SQLite side is read through rag.sandbox like any user database. Column types come from the values
SQLite actually holds (it is dynamically typed): integers, floats, text, blobs; primary and foreign
keys are kept, CHECK constraints and indexes are not (the data already satisfies them). Everything
is written in one transaction per table set, so a failure leaves nothing half-loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.engines import DatabaseURL, create_writer, error_line
from rag.errors import DatabaseError
from rag.execution import sqlite_affinity
from rag.sandbox import ReadOnlyDatabase

LOAD_TIMEOUT_S = 60.0
MAX_LOAD_ROWS = 5_000_000  # rows per table: the loader is for demo-sized databases
_BATCH = 2_000


@dataclass(frozen=True)
class LoadedTable:
    name: str
    rows: int
    created: int = 0  # creation order (referenced tables first): drop_tables goes the other way


def load_sqlite(
    source: Path, url: DatabaseURL, *, replace: bool = False, progress: Callable[[str, int], None] | None = None
) -> list[LoadedTable]:
    """Create `source`'s tables in `url`'s database and copy their rows. Tables that exist already
    are an error unless `replace` (then they are dropped first). Raises DatabaseError in one line."""
    with ReadOnlyDatabase.open(source, timeout_s=LOAD_TIMEOUT_S, max_rows=MAX_LOAD_ROWS) as sqlite:
        return copy_database(sqlite, url, replace=replace, progress=progress)


def copy_sqlite(
    source: Path, url: DatabaseURL, *, replace: bool = False, progress: Callable[[str, int], None] | None = None
) -> list[LoadedTable]:
    """`load_sqlite` for `coderag db copy`, which leaves nothing half-written: tables that exist
    already are refused before anything is written (unless `replace`), and on any failure the tables
    this copy created are dropped again (MySQL/MariaDB commit each CREATE TABLE at once)."""
    with ReadOnlyDatabase.open(source, timeout_s=LOAD_TIMEOUT_S, max_rows=MAX_LOAD_ROWS) as sqlite:
        names = sqlite.table_names()
        if not names:
            raise DatabaseError(f"{source} has no tables to copy")
        existing = set(existing_tables(url)) & set(names)
        if existing and not replace:
            raise DatabaseError(
                f"{url.masked} already has the table(s) {', '.join(sorted(existing))}", hint="pass --replace to drop and copy them again"
            )
        try:
            return copy_database(sqlite, url, replace=replace, progress=progress)
        except BaseException:
            created = [LoadedTable(name, 0, i) for i, name in enumerate(names) if name not in existing]
            try:
                drop_tables(url, created)
            except DatabaseError:
                pass  # the copy's own error says more; the transaction left nothing on the other engines
            raise


def existing_tables(url: DatabaseURL) -> list[str]:
    """The tables `url`'s database has now (connecting as the URL's user); a connection failure is one line."""
    from sqlalchemy import inspect

    engine = create_writer(url)
    try:
        with engine.connect() as conn:
            return list(inspect(conn).get_table_names())
    except Exception as exc:
        raise DatabaseError(f"cannot connect to {url.masked}: {error_line(exc)}") from None
    finally:
        engine.dispose()


def copy_database(
    sqlite: ReadOnlyDatabase, url: DatabaseURL, *, replace: bool = False, progress: Callable[[str, int], None] | None = None
) -> list[LoadedTable]:
    """`load_sqlite` from an open SQLite database (a file, or one built from a schema script)."""
    from sqlalchemy import MetaData, inspect

    names = sqlite.table_names()
    data = {name: sqlite.execute(f"SELECT * FROM {_quote(name)}", timeout_s=LOAD_TIMEOUT_S, max_rows=MAX_LOAD_ROWS) for name in names}
    info = {name: sqlite.execute(f"PRAGMA table_info({_quote(name)})").rows for name in names}
    foreign = {name: sqlite.execute(f"PRAGMA foreign_key_list({_quote(name)})").rows for name in names}
    engine = create_writer(url)
    try:
        metadata = MetaData()
        for name in names:  # each table joins `metadata`
            _table(metadata, name, info[name], foreign[name], data[name].rows, url.engine)
        with engine.begin() as conn:
            existing = set(inspect(conn).get_table_names()) & set(names)
            if existing and not replace:
                raise DatabaseError(
                    f"{url.masked} already has the table(s) {', '.join(sorted(existing))}",
                    hint="pass --replace to drop and load them again",
                )
            metadata.drop_all(conn, checkfirst=True)
            metadata.create_all(conn)
            loaded: list[LoadedTable] = []
            for table in metadata.sorted_tables:
                result = data[table.name]
                rows = [dict(zip(result.columns, row)) for row in result.rows]
                for start in range(0, len(rows), _BATCH):
                    conn.execute(table.insert(), rows[start : start + _BATCH])
                loaded.append(LoadedTable(table.name, len(rows), len(loaded)))
                if progress is not None:
                    progress(table.name, len(rows))
        return sorted(loaded, key=lambda t: names.index(t.name))
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(f"cannot load into {url.masked}: {error_line(exc)}") from None
    finally:
        engine.dispose()


def drop_tables(url: DatabaseURL, tables: list[LoadedTable]) -> None:
    """Drop the tables a `load_sqlite` / `copy_database` created from `url`'s database, referencing tables first."""
    engine = create_writer(url)
    try:
        quote = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            for table in sorted(tables, key=lambda t: -t.created):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table.name)}")
    except Exception as exc:
        raise DatabaseError(f"cannot drop the loaded tables from {url.masked}: {error_line(exc)}") from None
    finally:
        engine.dispose()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table(
    metadata: Any, name: str, info: list[tuple[Any, ...]], foreign: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], engine: str
) -> Any:
    """A SQLAlchemy Table for one SQLite table (PRAGMA table_info rows: cid, name, type, notnull, default, pk)."""
    from sqlalchemy import Column, ForeignKeyConstraint, Table

    columns = []
    for index, (_, column, declared, notnull, _default, pk) in enumerate(info):
        values = [row[index] for row in rows if row[index] is not None]
        columns.append(
            Column(
                column,
                _type_for(str(declared or ""), values, in_key=bool(pk), engine=engine),
                primary_key=bool(pk),
                nullable=not notnull and not pk,
                autoincrement=False,
            )
        )
    constraints: dict[Any, list[tuple[Any, Any, Any]]] = {}
    for row in foreign:  # id, seq, table, from, to, on_update, on_delete, match
        constraints.setdefault(row[0], []).append((row[3], row[2], row[4]))
    keys = [
        ForeignKeyConstraint([c for c, _, _ in parts], [f"{t}.{to}" for _, t, to in parts])
        for parts in constraints.values()
        if all(to is not None for _, _, to in parts)
    ]
    return Table(name, metadata, *columns, *keys)


def _type_for(declared: str, values: list[Any], *, in_key: bool, engine: str) -> Any:
    """The column type that holds the values SQLite has (declared affinity when there are none)."""
    from sqlalchemy import BigInteger, Double, LargeBinary, String, Text

    if any(isinstance(v, str) for v in values):
        kind = "TEXT"
    elif any(isinstance(v, bytes) for v in values):
        kind = "BLOB"
    elif any(isinstance(v, float) for v in values):
        kind = "REAL"
    elif values:
        kind = "INTEGER"
    else:
        kind = {"NUMERIC": "REAL"}.get(sqlite_affinity(declared), sqlite_affinity(declared))
    if kind == "TEXT":
        longest = max((len(v) for v in values if isinstance(v, str)), default=0)
        return String(255) if engine == "mysql" and in_key and longest <= 255 else Text()  # MySQL keys need a length
    return {"INTEGER": BigInteger(), "REAL": Double(), "BLOB": LargeBinary()}[kind]
