"""A server database's schema as SQLAlchemy's inspector reports it, and as CREATE statements.

The schema text (`CREATE TABLE` / `CREATE VIEW`, with primary and foreign keys where the dialect
reports them) is what prompts show and fingerprints hash; the names, columns and keys are what
rag.describe reads a server database by. At most `MAX_TABLES` tables and views are read, so a
schema of thousands stays bounded (a prompt holds far fewer).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from rag.errors import DatabaseError
from rag.servererrors import error_line

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import ReflectedColumn

MAX_TABLES = 300  # tables read into the schema: a schema of thousands stays bounded (a prompt holds far fewer)

# DDL, tables, {name: [(column, type)]}, {table: primary key}, {table: [(parent, columns, parent columns)]}
Reflected = tuple[str, list[str], dict[str, list[tuple[str, str]]], dict[str, list[str]], dict[str, list[tuple[str, list[str], list[str]]]]]


def reflect(engine: Engine, label: str) -> Reflected:
    """DDL, table names and columns of the default schema from SQLAlchemy's inspector, for at most
    `MAX_TABLES` tables and views. Keys and foreign keys are added where the dialect reports them."""
    from sqlalchemy import inspect

    try:
        with warnings.catch_warnings(), engine.connect() as conn:
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
        raise DatabaseError(f"cannot read the schema of {label}: {error_line(exc)}") from None
    by_name = {name: cols for (_, name), cols in columns.items()}
    described = {name: [(c["name"], _type_name(c["type"], engine.dialect)) for c in by_name.get(name, [])] for name in names}
    ddl = [
        _create_statement(engine, name, by_name.get(name, []), keys.get((None, name)), foreign.get((None, name), []), name in views)
        for name in names
    ]
    primary = {name: list((keys.get((None, name)) or {}).get("constrained_columns") or []) for name in tables}
    links = {
        name: [
            (fk["referred_table"], list(fk["constrained_columns"]), list(fk["referred_columns"])) for fk in foreign.get((None, name), [])
        ]
        for name in tables
    }
    return ("\n\n".join(ddl), tables, described, primary, links)


def _create_statement(
    engine: Engine, name: str, columns: list[ReflectedColumn], key: dict[str, Any] | None, foreign: list[dict[str, Any]], view: bool
) -> str:
    quote = engine.dialect.identifier_preparer.quote_identifier
    lines = [
        f"  {quote(c['name'])} {_type_name(c['type'], engine.dialect)}{'' if c.get('nullable', True) else ' NOT NULL'}" for c in columns
    ]
    if key and key.get("constrained_columns"):
        lines.append(f"  PRIMARY KEY ({', '.join(quote(c) for c in key['constrained_columns'])})")
    for fk in foreign:
        mine = ", ".join(quote(c) for c in fk["constrained_columns"])
        theirs = ", ".join(quote(c) for c in fk["referred_columns"])
        lines.append(f"  FOREIGN KEY ({mine}) REFERENCES {quote(fk['referred_table'])} ({theirs})")
    body = ",\n".join(lines)
    return f"CREATE {'VIEW' if view else 'TABLE'} {quote(name)} (\n{body}\n);"


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
