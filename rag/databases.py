"""Which database a question is about: a demo database (built on first use), a registered one
(`coderag db add`), a user's SQLite file, or (in the UI) an uploaded file or a pasted schema. One
reference type serves the CLI and the UI; its `key` names the database's example store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from rag.corpus import demo_db_path, demo_names
from rag.errors import DatabaseError
from rag.registry import Registry, schema_fingerprint, schema_key
from rag.sandbox import Limits, ReadOnlyDatabase
from rag.settings import Settings

SourceKind = Literal["demo", "registered", "file", "upload", "schema"]
_KIND_WORDS = {"demo": "demo database", "registered": "registered database", "file": "file", "upload": "uploaded file", "schema": "pasted schema"}


@dataclass(frozen=True)
class DatabaseRef:
    """A database the chain can query: `key` names its example store, `path` is the SQLite file.

    `schema` and `tables` are filled by `describe` (the UI shows them); they are empty until then.
    """

    key: str
    path: Path
    kind: SourceKind = "file"
    label: str = ""
    schema: str = ""
    tables: int = 0
    note: str | None = None  # something the user should know, e.g. the registered file changed

    @property
    def is_demo(self) -> bool:
        return self.kind == "demo"

    @property
    def summary(self) -> str:
        return f"`{self.label}` ({_KIND_WORDS[self.kind]}, {self.tables} table{'s' if self.tables != 1 else ''})"

    def open(self, settings: Settings) -> ReadOnlyDatabase:
        """Open read-only with the configured time limit and row cap."""
        execution = settings.execution
        return ReadOnlyDatabase.open(self.path, timeout_s=execution.timeout_s, max_rows=execution.max_rows, limits=Limits.of(execution))


def describe(ref: DatabaseRef) -> DatabaseRef:
    """`ref` with its schema and table count read from the file; a database without tables is an error."""
    with ReadOnlyDatabase.open(ref.path) as database:
        schema, tables = database.schema_sql(), len(database.table_names())
    if tables == 0:
        raise DatabaseError(f"{ref.label or ref.path} has no tables to ask about")
    return replace(ref, schema=schema, tables=tables)


def resolve_db(name_or_path: str, home: Path) -> DatabaseRef:
    """A demo name (bookshop, clinic), a registered name, or a path to an existing SQLite file.

    A file's store key is the registered name when its schema matches a registered database
    (wherever the file lies now), else `schema-<fingerprint>`: examples follow the schema, not the path.
    """
    if name_or_path in demo_names():
        return DatabaseRef(key=name_or_path, path=demo_db_path(name_or_path, home), kind="demo", label=name_or_path)
    registry = Registry(home)
    registration = registry.get(name_or_path)
    if registration is not None:
        if not Path(registration.path).is_file():
            raise DatabaseError(
                f"registered database '{registration.name}' points at {registration.path}, which no longer exists",
                hint=f"register the file where it is now: coderag db add PATH --name {registration.name} --replace",
            )
        return DatabaseRef(key=registration.name, path=Path(registration.path), kind="registered", label=registration.name, note=registration.changes())
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join([*demo_names(), *(r.name for r in registry.all())])
        raise DatabaseError(f"database not found: {name_or_path}", hint=f"use a SQLite file path or a database name: {known}")
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a SQLite file")
    with ReadOnlyDatabase.open(path) as database:
        key = key_for_schema(database.schema_sql(), home)
    return DatabaseRef(key=key, path=path.resolve(), kind="file", label=path.name)


def key_for_schema(schema_sql: str, home: Path) -> str:
    """The store key of a database with this schema: a registered name with the same schema, else `schema-<fingerprint>`."""
    fingerprint = schema_fingerprint(schema_sql)
    registration = Registry(home).find_by_fingerprint(fingerprint)
    return registration.name if registration is not None else schema_key(fingerprint)
