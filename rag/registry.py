"""Registered databases and their example stores, shared by the CLI and the UI.

    <home>/databases/<name>.json   one per registered database: its path, schema fingerprint,
                                   file size and time (never a copy of the data)
    <home>/stores/<key>.jsonl      one per database key: {id, question, sql, origin, created}

A store's key is the registered name, a demo database's name, or, for a file nobody registered,
`schema-<fingerprint>` (a hash of its schema, not its path: a moved or copied file keeps its
examples). `origin` says who wrote an example: `person` (taught, or a demo database's own
hand-written store), `saved` (confirmed in the UI) or `synth` (synthesized by `db add`). A
re-synthesis replaces only `synth` examples; nothing a person wrote or saved is ever dropped by
a rebuild, a retrain or `db remove`.

Every change to a store (an append by `db teach` or a UI save, a rewrite by `db add --replace`,
`db remove` or a UI edit) reads and writes under one exclusive lock per key (`flock` on
`<home>/stores/.<key>.lock`, a file that is never renamed), so concurrent changes (threads, or
a UI and CLIs in other processes) never lose each other's examples. Appends are fsynced,
rewrites atomic (rag.io). A torn last line is skipped when reading.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rag.errors import ConfigError, DatabaseError
from rag.io import read_json, write_json_atomic, write_jsonl_atomic

log = logging.getLogger(__name__)

Origin = Literal["person", "saved", "synth"]
ORIGINS: tuple[str, ...] = ("person", "saved", "synth")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_WHITESPACE = re.compile(r"\s+")


def schema_fingerprint(schema_sql: str) -> str:
    """A short hash of a database's schema DDL (whitespace and case of keywords aside)."""
    normalized = _WHITESPACE.sub(" ", schema_sql).strip().lower()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


def schema_key(fingerprint: str) -> str:
    """The store key of a database nobody registered: its schema, not where the file lies."""
    return f"schema-{fingerprint}"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise ConfigError(
            f"invalid database name {name!r}",
            hint="use a letter first, then letters, digits, '-' or '_' (at most 64 characters)",
        )
    return name


def example_id(key: str, question: str, sql: str) -> str:
    """Stable id: storing the same question → SQL twice is a no-op."""
    digest = hashlib.sha256(json.dumps([key, question, sql]).encode()).hexdigest()[:12]
    return f"{key}-{digest}"


# -- registered databases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """A database registered under a name (`coderag db add`)."""

    name: str
    path: str
    fingerprint: str
    size: int
    mtime: float
    tables: int
    added: str
    meta: dict[str, Any] = field(default_factory=dict)

    def changes(self) -> str | None:
        """What changed in the file since it was registered (None: nothing we can see; a database
        by URL is a server's to keep, `path` holds its URL without the password)."""
        if "://" in self.path:
            return None
        path = Path(self.path)
        if not path.is_file():
            return f"{self.path} no longer exists"
        stat = path.stat()
        if stat.st_size != self.size or abs(stat.st_mtime - self.mtime) > 1e-3:
            return f"{self.path} was modified since it was registered"
        return None


class Registry:
    """The registered databases under `<home>/databases/`."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "databases"

    def path_for(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def get(self, name: str) -> Registration | None:
        if not NAME_PATTERN.match(name or ""):
            return None
        path = self.root / f"{name}.json"
        if not path.is_file():
            return None
        data = read_json(path)
        try:
            return Registration(**data)
        except TypeError:
            raise DatabaseError(f"registration {path} is corrupt", hint=f"remove it with `coderag db remove {name}`") from None

    def all(self) -> list[Registration]:
        if not self.root.is_dir():
            return []
        found = (self.get(path.stem) for path in sorted(self.root.glob("*.json")))
        return [r for r in found if r is not None]

    def find_by_fingerprint(self, fingerprint: str) -> Registration | None:
        return next((r for r in self.all() if r.fingerprint == fingerprint), None)

    def add(self, name: str, path: Path | str, fingerprint: str, tables: int, meta: dict[str, Any] | None = None) -> Registration:
        """Register a SQLite file (a Path), or a database URL without its password (a str)."""
        is_url = isinstance(path, str) and "://" in path
        stat = None if is_url else Path(path).stat()
        registration = Registration(
            name=check_name(name),
            path=str(path) if is_url else str(Path(path).resolve()),
            fingerprint=fingerprint,
            size=stat.st_size if stat else 0,
            mtime=stat.st_mtime if stat else 0.0,
            tables=tables,
            added=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            meta=meta or {},
        )
        write_json_atomic(self.path_for(name), asdict(registration))
        return registration

    def remove(self, name: str) -> bool:
        path = self.path_for(name)
        if not path.is_file():
            return False
        path.unlink()
        return True


# -- example stores -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredExample:
    id: str
    question: str
    sql: str
    origin: str = "person"
    created: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, key: str, question: str, sql: str, origin: Origin, meta: dict[str, Any] | None = None) -> StoredExample:
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        return cls(
            id=example_id(key, question, sql),
            question=question,
            sql=sql,
            origin=origin,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            meta=meta or {},
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["meta"]:
            del data["meta"]
        return data


class ExampleStore:
    """One JSONL file of examples per database key under `<home>/stores/`.

    Stores written by earlier versions (the UI's `<home>/examples/<key>.jsonl`, full example
    records) are read too, as `saved` examples, so nothing saved before is lost.
    """

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "stores"
        self.legacy = Path(home) / "examples"

    def path_for(self, key: str) -> Path:
        return self.root / f"{_safe(key)}.jsonl"

    def keys(self) -> list[str]:
        """Every key with a store (current or legacy)."""
        found = {p.stem for p in self.root.glob("*.jsonl")} if self.root.is_dir() else set()
        if self.legacy.is_dir():
            found |= {p.stem for p in self.legacy.glob("*.jsonl")}
        return sorted(found)

    def load(self, key: str) -> list[StoredExample]:
        """The key's examples in the order they were stored, each id once."""
        seen: dict[str, StoredExample] = {}
        for example in [*_read_legacy(self.legacy / f"{_safe(key)}.jsonl"), *_read(self.path_for(key))]:
            seen.setdefault(example.id, example)
        return list(seen.values())

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold the key's store lock (exclusive, across processes) for a read-modify-write."""
        lock = self.root / f".{_safe(key)}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def add(self, key: str, examples: Iterable[StoredExample]) -> list[StoredExample]:
        """Append the examples not stored yet (by id); returns those that were new."""
        with self.locked(key):
            known = {e.id for e in self.load(key)}
            new = []
            for example in examples:
                if example.id not in known:
                    known.add(example.id)
                    new.append(example)
            if new:
                _append(self.path_for(key), new)
        return new

    def rewrite(self, key: str, change: Callable[[list[StoredExample]], list[StoredExample]]) -> tuple[int, int]:
        """Replace the key's examples by `change(current)`, read and written under the store lock
        (legacy files are left alone); returns (examples before, examples after)."""
        with self.locked(key):
            current = _read(self.path_for(key))
            kept = change(current)
            if kept != current:
                write_jsonl_atomic(self.path_for(key), [e.to_json() for e in kept])
        return len(current), len(kept)

    def replace_synthesized(self, key: str, examples: Iterable[StoredExample]) -> int:
        """Swap the key's `synth` examples for `examples`; everything a person wrote or saved stays."""
        examples = list(examples)
        fresh: list[StoredExample] = []

        def change(current: list[StoredExample]) -> list[StoredExample]:
            kept = [e for e in current if e.origin != "synth"]
            known = {e.id for e in kept}
            for example in examples:
                if example.id not in known:
                    known.add(example.id)
                    fresh.append(example)
            return [*kept, *fresh]

        self.rewrite(key, change)
        return len(fresh)

    def remove(self, key: str, ids: set[str] | None = None, *, origins: set[str] | None = None) -> int:
        """Remove examples by id and/or origin (legacy files are left alone); returns how many went."""
        before, after = self.rewrite(
            key, lambda current: [e for e in current if not ((ids is None or e.id in ids) and (origins is None or e.origin in origins))]
        )
        return before - after

    def swap(self, key: str, old_id: str, new: StoredExample) -> bool:
        """Replace the example `old_id` by `new` in one locked rewrite (an edit); False if `old_id`
        is not in the current store file (removed meanwhile, or only in a legacy file)."""
        found = False

        def change(current: list[StoredExample]) -> list[StoredExample]:
            nonlocal found
            found = any(e.id == old_id for e in current)
            if not found:
                return current
            kept = [e for e in current if e.id not in (old_id, new.id)]
            return [*kept, new]

        self.rewrite(key, change)
        return found


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def _append(path: Path, examples: list[StoredExample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in examples).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                log.warning("%s:%d: skipping an unreadable example line", path, number)
                continue
            if isinstance(record, dict):
                yield number, record


def _read(path: Path) -> list[StoredExample]:
    out = []
    for number, record in _lines(path):
        if not all(isinstance(record.get(k), str) for k in ("id", "question", "sql")):
            log.warning("%s:%d: skipping an example without id, question and sql", path, number)
            continue
        out.append(
            StoredExample(
                id=record["id"],
                question=record["question"],
                sql=record["sql"],
                origin=str(record["origin"]) if record.get("origin") in ORIGINS else "person",
                created=str(record.get("created", "")),
                meta=record["meta"] if isinstance(record.get("meta"), dict) else {},
            )
        )
    return out


def _read_legacy(path: Path) -> list[StoredExample]:
    """The UI's stores before the registry: full example records (`id, question, sql, meta.saved_at, ...`)."""
    out = []
    for _, record in _lines(path):
        if all(isinstance(record.get(k), str) for k in ("id", "question", "sql")):
            saved_at = (record.get("meta") or {}).get("saved_at", "") if isinstance(record.get("meta"), dict) else ""
            out.append(StoredExample(id=record["id"], question=record["question"], sql=record["sql"], origin="saved", created=saved_at))
    return out
