"""Read-only execution: writes, ATTACH, PRAGMA writes and extensions are refused; runaway queries stop."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from rag.errors import DatabaseError, SQLError
from rag.sandbox import ReadOnlyDatabase


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO items (name, price) VALUES ('pen', 1.5), ('book', 12.0), ('lamp', 30.25);"
    )
    conn.commit()
    conn.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_returns_columns_and_rows(db_file):
    with ReadOnlyDatabase.open(db_file) as db:
        result = db.execute("SELECT name, price FROM items WHERE price > 2 ORDER BY price")
    assert result.columns == ["name", "price"]
    assert result.rows == [("book", 12.0), ("lamp", 30.25)]
    assert not result.truncated


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO items (name, price) VALUES ('x', 1)",
        "UPDATE items SET price = 0",
        "DELETE FROM items",
        "DROP TABLE items",
        "CREATE TABLE t (a)",
        "ALTER TABLE items ADD COLUMN c",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA user_version = 7",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('/tmp/evil')",
        "VACUUM",
        "REPLACE INTO items (id, name, price) VALUES (1, 'x', 0)",
    ],
)
def test_writes_are_refused_and_file_is_unchanged(db_file, sql):
    before = _digest(db_file)
    with ReadOnlyDatabase.open(db_file) as db:
        with pytest.raises(SQLError) as caught:
            db.execute(sql)
        assert caught.value.kind in {"forbidden", "execution_error"}
        assert db.execute("SELECT count(*) FROM items").rows == [(3,)]
    assert _digest(db_file) == before


def test_runaway_recursive_cte_stops_at_time_limit(db_file):
    with ReadOnlyDatabase.open(db_file, timeout_s=0.3) as db:
        with pytest.raises(SQLError) as caught:
            db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
        assert caught.value.kind == "timeout"
        assert db.execute("SELECT 1").rows == [(1,)]  # the connection still works afterwards


def test_row_cap_truncates(db_file):
    with ReadOnlyDatabase.open(db_file, max_rows=2) as db:
        result = db.execute("SELECT * FROM items")
    assert len(result.rows) == 2 and result.truncated


def test_missing_non_sqlite_and_corrupt_files(tmp_path, db_file):
    with pytest.raises(DatabaseError, match="not found"):
        ReadOnlyDatabase.open(tmp_path / "nope.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, not a database")
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        ReadOnlyDatabase.open(text)
    corrupt = tmp_path / "corrupt.sqlite"
    data = bytearray(db_file.read_bytes())
    data[16:4096] = b"\xff" * (4096 - 16)
    corrupt.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match="corrupt"):
        with ReadOnlyDatabase.open(corrupt) as db:
            db.execute("SELECT * FROM items")


def test_from_script_builds_read_only_memory_db():
    with ReadOnlyDatabase.from_script("CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2);") as db:
        assert db.execute("SELECT sum(a) FROM t").rows == [(3,)]
        with pytest.raises(SQLError):
            db.execute("INSERT INTO t VALUES (3)")
        assert "CREATE TABLE t" in db.schema_sql()
    with pytest.raises(DatabaseError, match="does not load"):
        ReadOnlyDatabase.from_script("CREATE TABLE (")
