"""Where a UI session's database comes from: a demo database, a file named on the command line,
an uploaded SQLite file, or a pasted `CREATE TABLE` script.

Uploads and pasted schemas are untrusted. They are copied (or built) into a private temporary
directory (mode 0700), size-limited, checked to be SQLite, and only ever opened read-only
through `rag.sandbox.ReadOnlyDatabase`. A pasted script may only create tables, views and
indexes and insert rows: ATTACH, VACUUM INTO, extensions and other PRAGMAs are refused, its
build time is limited and the database it builds is capped at the upload size.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from rag.databases import DatabaseRef, SourceKind, describe, resolve_db
from rag.engines import is_database_url
from rag.errors import DatabaseError
from rag.io import atomic_path
from rag.registry import Registry
from rag.sandbox import build_database_file, is_sqlite_file
from rag.sqltools import split_statements

_ALLOWED_STATEMENT = re.compile(
    r"^(?:CREATE\s+(?:(?:TEMP|TEMPORARY)\s+)?(?:TABLE|VIEW)|CREATE\s+(?:UNIQUE\s+)?INDEX|INSERT|REPLACE\s+INTO"
    r"|BEGIN|COMMIT|END|PRAGMA\s+foreign_keys)\b",
    re.IGNORECASE,
)
_CREATE_TABLE = re.compile(r"^CREATE\s+(?:(?:TEMP|TEMPORARY)\s+)?TABLE\b", re.IGNORECASE)


def _describe(key: str, label: str, kind: SourceKind, path: Path) -> DatabaseRef:
    return describe(DatabaseRef(key=key, path=path, kind=kind, label=label))


def named_database(name_or_path: str, home: Path, *, allow_privileged_role: bool = False) -> DatabaseRef:
    """A demo database name, a SQLite file path or a URL (`coderag ui --db`), described; a server
    role that may write is refused unless `allow_privileged_role` (`--allow-privileged-role`).
    A path to a registered file is that registered database (one entry in the picker, by its name)."""
    ref = resolve_db(name_or_path, home, allow_privileged_role=allow_privileged_role)
    if ref.kind == "file" and ref.path is not None:
        registration = Registry(home).get(ref.key)
        if registration is not None and not is_database_url(registration.path) and _same_file(Path(registration.path), ref.path):
            ref = resolve_db(registration.name, home, allow_privileged_role=allow_privileged_role)
    return describe(ref)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve().samefile(b)
    except OSError:
        return False


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")[:40] or "db"


class PrivateDir:
    """A temporary directory only this user can enter (mkdtemp creates it with mode 0700)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="coderag-ui-"))

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def add_upload(self, source: str | Path, *, max_bytes: int, display_name: str | None = None) -> DatabaseRef:
        """Copy an uploaded file in after checking its size and SQLite header; open it read-only."""
        source = Path(source)
        name = display_name or source.name
        if not source.is_file():
            raise DatabaseError(f"the upload {name} could not be read")
        size = source.stat().st_size
        if size > max_bytes:
            raise DatabaseError(f"{name} is {size / 2**20:.1f} MB; the upload limit is {max_bytes / 2**20:.0f} MB")
        if not is_sqlite_file(source):
            raise DatabaseError(f"{name} is not a SQLite database", hint="upload a .sqlite/.db file")
        digest = _file_digest(source)
        key = f"upload-{digest}-{_safe_stem(name)}"
        target = self.path / f"{key}.sqlite"
        with atomic_path(target, mode=0o600) as tmp:
            shutil.copyfile(source, tmp)
        return _describe(key, name, "upload", target)

    def add_schema(self, script: str, *, max_chars: int, max_bytes: int, timeout_s: float) -> DatabaseRef:
        """Build a SQLite file from a pasted CREATE TABLE (+ INSERT) script; open it read-only."""
        script = (script or "").strip()
        if not script:
            raise DatabaseError("the schema is empty", hint="paste CREATE TABLE statements")
        if len(script) > max_chars:
            raise DatabaseError(f"the schema is {len(script):,} characters; the limit is {max_chars:,}")
        statements = split_statements(script)
        refused = next((s for s in statements if not _ALLOWED_STATEMENT.match(s)), None)
        if refused is not None:
            first_line = refused.splitlines()[0][:80]
            raise DatabaseError(f"a pasted schema may only CREATE tables, views and indexes and INSERT rows; refused: {first_line}")
        if not any(_CREATE_TABLE.match(s) for s in statements):
            raise DatabaseError("the schema has no CREATE TABLE statement")
        key = f"schema-{hashlib.sha256(script.encode()).hexdigest()[:12]}"
        target = self.path / f"{key}.sqlite"
        if not target.is_file():
            with atomic_path(target, mode=0o600) as tmp:
                build_database_file(tmp, ";\n".join(statements) + ";", timeout_s=timeout_s, max_bytes=max_bytes, what="the schema")
        return _describe(key, key, "schema", target)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]
