"""A database file's description and value index are kept on disk (home/links) for the next
process, and read again when the file changes (rag.diskcache.disk_cached)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import rag.describe as describing
from rag.describe import describe
from rag.linking import Linker
from rag.sandbox import ReadOnlyDatabase
from rag.schema import DatabaseSchema
from rag.settings import LinkingSettings


def _make(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS genres (genre_id INTEGER PRIMARY KEY, name TEXT)")
        names = ["Rock", "Jazz", "Blues", "Soul", "Funk"]
        con.executemany("INSERT INTO genres (name) VALUES (?)", [(names[i % 5],) for i in range(rows)])


def test_a_description_is_read_back_from_disk_until_the_file_changes(tmp_path: Path) -> None:
    path, cache = tmp_path / "db.sqlite", tmp_path / "links"
    _make(path, 3)
    with ReadOnlyDatabase.open(path) as db:
        first = describe(db, cache_dir=cache)
    assert [p.name.split("-")[0] for p in cache.glob("*.pkl")] == ["describe"]
    describing._CACHE.clear()  # a new process: only the disk holds it
    with ReadOnlyDatabase.open(path) as db:
        again = describe(db, cache_dir=cache)
    assert isinstance(again, DatabaseSchema) and again is not first and again == first
    _make(path, 2)  # the data changed: read again, and the stale entry is replaced
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    describing._CACHE.clear()
    with ReadOnlyDatabase.open(path) as db:
        changed = describe(db, cache_dir=cache)
    assert changed.table("genres").rows == 5
    assert len(list(cache.glob("describe-*.pkl"))) == 1


def test_a_damaged_cache_file_is_read_again_from_the_database(tmp_path: Path) -> None:
    path, cache = tmp_path / "db.sqlite", tmp_path / "links"
    _make(path, 3)
    with ReadOnlyDatabase.open(path) as db:
        describe(db, cache_dir=cache)
        (entry,) = cache.glob("describe-*.pkl")
        entry.write_bytes(b"not a pickle")
        describing._CACHE.clear()
        assert describe(db, cache_dir=cache).table("genres").rows == 3


def test_the_value_index_is_kept_beside_the_description(tmp_path: Path) -> None:
    path, cache = tmp_path / "db.sqlite", tmp_path / "links"
    _make(path, 3)
    with ReadOnlyDatabase.open(path) as db:
        built = Linker.of(db, LinkingSettings(), None, cache_dir=cache)
        assert len(list(cache.glob("values-*.pkl"))) == 1
        describing._CACHE.clear()
        read = Linker.of(db, LinkingSettings(), None, cache_dir=cache)
    assert read.values.entries == built.values.entries
    assert [h.value for h in read.values.match("songs of the blues")] == ["Blues"]
