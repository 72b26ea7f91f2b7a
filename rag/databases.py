"""Which database a question is about: a demo database (built on first use), a registered one
(`coderag db add`), a user's SQLite file, a database by URL (PostgreSQL, MySQL/MariaDB, DuckDB:
rag.engines), or (in the UI) an uploaded file or a pasted schema. One reference type serves the
CLI and the UI; its `key` names the database's example store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from rag.corpus import demo_db_path, demo_names
from rag.engines import Database, DatabaseURL, is_database_url, open_url
from rag.errors import DatabaseError
from rag.registry import Registry, schema_fingerprint, schema_key
from rag.sandbox import Limits, ReadOnlyDatabase
from rag.settings import Settings

SourceKind = Literal["demo", "registered", "file", "upload", "schema", "url"]
_KIND_WORDS = {
    "demo": "demo database", "registered": "registered database", "file": "file", "upload": "uploaded file", "schema": "pasted schema",
    "url": "database",
}  # fmt: skip


@dataclass(frozen=True)
class DatabaseRef:
    """A database the chain can query: `key` names its example store, `path` is the SQLite file,
    `url` a database by URL instead (its password, if typed, is never shown: `DatabaseURL`).

    `schema` and `tables` are filled by `describe` (the UI shows them); they are empty until then.
    """

    key: str
    path: Path | None
    kind: SourceKind = "file"
    label: str = ""
    schema: str = ""
    tables: int = 0
    note: str | None = None  # something the user should know, e.g. the registered file changed
    url: DatabaseURL | None = None
    allow_privileged_role: bool = False  # a server role that may write is let in (--allow-privileged-role)

    @property
    def is_demo(self) -> bool:
        return self.kind == "demo"

    @property
    def summary(self) -> str:
        return f"`{self.label}` ({_KIND_WORDS[self.kind]}, {self.tables} table{'s' if self.tables != 1 else ''})"

    @property
    def dialect(self) -> str:
        """sqlglot's name for the database's SQL."""
        return self.url.dialect if self.url is not None else "sqlite"

    def open(self, settings: Settings | None = None) -> Database:
        """Open read-only with the configured time limit and row cap (defaults without settings)."""
        options: dict[str, Any] = {}
        allowed = self.allow_privileged_role
        if settings is not None:
            execution = settings.execution
            options = {"timeout_s": execution.timeout_s, "max_rows": execution.max_rows, "limits": Limits.of(execution)}
            allowed = allowed or execution.allow_privileged_role
        if self.url is not None:
            return open_url(self.url, **options, allow_privileged_role=allowed)
        if self.path is None:
            raise DatabaseError(f"{self.label or self.key} has no database to open")
        return ReadOnlyDatabase.open(self.path, **options)


def describe(ref: DatabaseRef) -> DatabaseRef:
    """`ref` with its schema and table count read from the database; a database without tables is an error."""
    with ref.open() as database:
        schema, tables = database.schema_sql(), len(database.table_names())
    if tables == 0:
        raise DatabaseError(f"{ref.label or ref.path} has no tables to ask about")
    return replace(ref, schema=schema, tables=tables)


def resolve_db(name_or_path: str, home: Path, *, allow_privileged_role: bool = False) -> DatabaseRef:
    """A demo name (bookshop, clinic), a registered name, a path to an existing SQLite file, or a
    database URL (postgresql://, mysql://, duckdb:///, sqlite:///: rag.engines).

    A file's store key is the registered name when its schema matches a registered database
    (wherever the file lies now), else `schema-<fingerprint>`: examples follow the schema, not the
    path. A URL's key is the name it was registered under, else its schema's, the same way.
    `allow_privileged_role` lets a server role that may write connect (the ref keeps it for `open`).
    """
    if is_database_url(name_or_path):
        url = DatabaseURL.parse(name_or_path)
        if url.engine == "sqlite":
            name_or_path = str(url.path)
        else:
            return _url_ref(url, home, allow_privileged_role)
    if name_or_path in demo_names():
        return DatabaseRef(key=name_or_path, path=demo_db_path(name_or_path, home), kind="demo", label=name_or_path)
    registry = Registry(home)
    registration = registry.get(name_or_path)
    if registration is not None and is_database_url(registration.path):
        url = DatabaseURL.parse(registration.path)
        return _registered_url(registration.name, url, allow_privileged_role)
    if registration is not None:
        if not Path(registration.path).is_file():
            raise DatabaseError(
                f"registered database '{registration.name}' points at {registration.path}, which no longer exists",
                hint=f"register the file where it is now: coderag db add PATH --name {registration.name} --replace",
            )
        return DatabaseRef(
            key=registration.name, path=Path(registration.path), kind="registered", label=registration.name, note=registration.changes()
        )
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join([*demo_names(), *(r.name for r in registry.all())])
        raise DatabaseError(f"database not found: {name_or_path}", hint=f"use a SQLite file path or a database name: {known}")
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a SQLite file")
    with ReadOnlyDatabase.open(path) as database:
        key = key_for_schema(database.schema_sql(), home)
    return DatabaseRef(key=key, path=path.resolve(), kind="file", label=path.name)


def _registered_url(name: str, url: DatabaseURL, allow_privileged_role: bool) -> DatabaseRef:
    """The reference of a database registered by URL under `name`."""
    return DatabaseRef(key=name, path=None, kind="registered", label=name, url=url, allow_privileged_role=allow_privileged_role)


def _url_ref(url: DatabaseURL, home: Path, allow_privileged_role: bool) -> DatabaseRef:
    """A database by URL: connected once here, so a bad host, password or database (or a privileged role) fails first."""
    registration = next((r for r in Registry(home).all() if r.path == url.public), None)
    if registration is not None:
        return _registered_url(registration.name, url, allow_privileged_role)
    with open_url(url, allow_privileged_role=allow_privileged_role) as database:
        key = key_for_schema(database.schema_sql(), home)
    return DatabaseRef(key=key, path=None, kind="url", label=url.masked, url=url, allow_privileged_role=allow_privileged_role)


def key_for_schema(schema_sql: str, home: Path) -> str:
    """The store key of a database with this schema: a registered name with the same schema, else `schema-<fingerprint>`."""
    fingerprint = schema_fingerprint(schema_sql)
    registration = Registry(home).find_by_fingerprint(fingerprint)
    return registration.name if registration is not None else schema_key(fingerprint)
