"""A description (or value index) of a database file kept on disk between processes, keyed by the
file's schema, size and modification time (home/links)."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DiskCache:
    """One cached object of one database file, in `home/links/<kind>-<file>-<state>.pkl`: read back
    while the file's schema, size, modification time and the bounds are the same; written
    atomically, replacing that file's older entries of this kind. A server database (no file to
    stamp) and a cache that cannot be read or written only cost time."""

    path: Path | None

    def load(self) -> Any:
        if self.path is None:
            return None
        try:
            with open(self.path, "rb") as handle:
                return pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            return None

    def save(self, value: Any) -> None:
        if self.path is None:
            return
        from rag.io import atomic_path

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for old in self.path.parent.glob(self.path.name.rsplit("-", 1)[0] + "-*.pkl"):
                old.unlink(missing_ok=True)
            with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            pass


def disk_cached(cache_dir: Path | None, kind: str, db: Any, key: tuple[Any, ...]) -> DiskCache:
    """Where `kind` (describe, values) of the database file behind `db` is cached for `key`."""
    path = getattr(db, "path", None)
    if cache_dir is None or path is None:
        return DiskCache(None)
    of_file = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    state = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    return DiskCache(Path(cache_dir) / f"{kind}-{of_file}-{state}.pkl")


def data_stamp(db: Any) -> tuple[Any, ...]:
    """What changes when a SQLite file's rows change (its size and modification time); a server
    database's description is kept for the process's life (its schema is already in the key)."""
    path = getattr(db, "path", None)
    if path is None:
        return (id(db),) if getattr(db, "dialect", "sqlite") == "sqlite" else ()
    try:
        stat = Path(path).stat()
    except OSError:
        return (str(path),)
    return (str(path), stat.st_size, stat.st_mtime_ns)
