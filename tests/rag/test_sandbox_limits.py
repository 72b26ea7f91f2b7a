"""The sandbox's bounds: SQLite's own limits on every connection, one wall-clock limit even inside
one long C call (the worker is killed), memory bounded by the worker's RLIMIT_AS and the result
cap (measured with the corpus's bombs in a fresh process), and WAL databases read without side files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fixtures.hostile_corpus import CORPUS, expand

from rag.errors import DatabaseError, SQLError
from rag.sandbox import MB, Limits, ReadOnlyDatabase, build_database_file
from rag.sqlworker import READ_PRAGMAS, harden
from rag.workers import GRACE_S

SMALL = Limits(memory_mb=64, value_mb=4, result_mb=8)
BOMBS = [e for e in CORPUS if e["category"] in ("heavy function", "size", "rendering") and "sql" in e and "sql" in e["channels"]]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT, price REAL);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 50) INSERT INTO books (title, price) SELECT 'book ' || i, i FROM n;"
    )
    conn.commit()
    conn.close()
    return path


def test_every_connection_gets_sqlites_own_limits() -> None:
    conn = sqlite3.connect(":memory:")
    harden(conn, SMALL.for_sqlite())
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 4 * MB
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED) == 0
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH) <= 200 and conn.getlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT) <= 64
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_VDBE_OP) <= 250_000 and conn.getlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG) <= 64
    assert conn.execute("PRAGMA trusted_schema").fetchone() == (0,)
    assert conn.execute("PRAGMA temp_store").fetchone() == (2,)  # sorts and temp tables count against the heap limit
    assert "trusted_schema" not in READ_PRAGMAS


def test_one_long_c_call_is_killed_at_the_limit_and_the_next_query_works(shop: Path) -> None:
    with ReadOnlyDatabase.open(shop, timeout_s=1, limits=SMALL) as db:
        started = time.monotonic()
        with pytest.raises(SQLError) as caught:
            db.execute("SELECT length(printf('%.*c', 2147483647, 'x'))")
        assert caught.value.kind == "timeout" and time.monotonic() - started < 1 + GRACE_S + 0.5
        assert db.execute("SELECT count(*) FROM books").rows == [(50,)]


def test_the_clock_starts_before_parsing(shop: Path) -> None:
    with ReadOnlyDatabase.open(shop, timeout_s=1) as db:
        with pytest.raises(SQLError, match="time limit"):
            db.execute("SELECT 1", started=time.monotonic() - 2)


def test_results_are_capped_in_bytes_as_well_as_rows(shop: Path) -> None:
    with ReadOnlyDatabase.open(shop, limits=SMALL) as db:
        result = db.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT zeroblob(1000000) FROM r")
    assert result.truncated and 0 < len(result.rows) <= 8
    assert sum(len(row[0]) for row in result.rows) <= 8 * MB


def test_a_worker_that_died_is_replaced(shop: Path) -> None:
    from rag.workers import _POOL

    with ReadOnlyDatabase.open(shop, limits=SMALL) as db:
        db.execute("SELECT 1")
        for worker in list(_POOL._idle):
            worker.kill()  # as if the kernel had killed it between two queries
        assert db.execute("SELECT count(*) FROM books").rows == [(50,)]


def test_the_worker_address_space_is_capped(shop: Path) -> None:
    from rag.workers import _POOL

    with ReadOnlyDatabase.open(shop, limits=SMALL) as db:
        db.execute("SELECT 1")
    pids = [w.process.pid for w in _POOL._idle if str(SMALL.memory_mb * 2**20) in w.key and w.alive]  # key: the worker's command line
    limits = Path(f"/proc/{pids[0]}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max address space"))
    assert str(SMALL.address_space_bytes) in line


def test_the_corpus_bombs_stay_within_the_memory_bound(shop: Path, tmp_path: Path) -> None:
    """In a fresh process (peak RSS is per process): every bomb ends within the limit, the calling
    process grows by at most ~4x the result cap, and no worker's peak passes its address-space cap."""
    script = textwrap.dedent(
        f"""
        import json, resource, sys, time
        from rag.errors import SQLError
        from rag.sandbox import Limits, ReadOnlyDatabase
        from rag.workers import _POOL
        limits = Limits(memory_mb={SMALL.memory_mb}, value_mb={SMALL.value_mb}, result_mb={SMALL.result_mb})
        bombs = json.loads(sys.stdin.read())
        seconds = {{}}
        with ReadOnlyDatabase.open({str(shop)!r}, timeout_s=1, limits=limits) as db:
            db.execute("SELECT 1")
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for name, sql in bombs.items():
                started = time.monotonic()
                try:
                    db.execute(sql)
                except SQLError:
                    pass
                seconds[name] = time.monotonic() - started
        _POOL.close()
        print(json.dumps({{"seconds": seconds, "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base,
                          "workers_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}))
        """
    )
    bombs = {e["id"]: expand(e["sql"]) for e in BOMBS if len(expand(e["sql"])) <= SMALL.sql_chars}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(bombs), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    slow = {name: round(s, 2) for name, s in report["seconds"].items() if s > 1 + GRACE_S + 0.5}
    assert not slow
    assert report["self_kb"] * 1024 <= 4 * SMALL.result_mb * MB + 32 * MB, report
    assert report["workers_kb"] * 1024 <= SMALL.address_space_bytes, report


def test_a_pasted_script_is_built_within_its_limits(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="limit|does not load"):
        build_database_file(
            tmp_path / "a.sqlite", "CREATE TABLE t AS SELECT randomblob(900000000) AS b;", timeout_s=2, max_bytes=MB, limits=SMALL
        )
    with pytest.raises(DatabaseError, match="longer than"):
        build_database_file(
            tmp_path / "b.sqlite",
            "CREATE TABLE t (a); INSERT INTO t SELECT printf('%.*c', 2147483647, 'x');",
            timeout_s=1,
            max_bytes=100 * MB,
            limits=SMALL,
        )
    assert time.monotonic() - started < 2 + 1 + 2 * GRACE_S + 1
    assert not (tmp_path / "a.sqlite").exists() and not (tmp_path / "b.sqlite").exists()


def _wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.execute("INSERT INTO t VALUES (1), (2)")
    return conn


def _side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_a_wal_database_nobody_writes_is_read_without_side_files(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    _wal_database(path).close()  # the last connection checkpoints and removes -wal and -shm
    assert _side_files(path) == [] and path.read_bytes()[18:20] == b"\x02\x02"
    with ReadOnlyDatabase.open(path) as db:
        assert db.execute("SELECT sum(a) FROM t").rows == [(3,)]
    assert _side_files(path) == []


def test_a_wal_database_being_written_shares_the_writers_files(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    writer = _wal_database(path)
    writer.execute("INSERT INTO t VALUES (4)")  # still in the -wal file, not the database
    files = _side_files(path)
    try:
        with ReadOnlyDatabase.open(path) as db:
            assert db.execute("SELECT sum(a) FROM t").rows == [(7,)]
        assert _side_files(path) == files
    finally:
        writer.close()


def test_a_crashed_writers_log_is_read_from_a_private_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite"
    writer = _wal_database(source)
    writer.execute("INSERT INTO t VALUES (4)")
    crashed = tmp_path / "crashed" / "wal.sqlite"
    crashed.parent.mkdir()
    for suffix in ("", "-wal"):  # the database and its log, without -shm: what a crash can leave
        crashed.with_name(crashed.name + suffix).write_bytes(source.with_name(source.name + suffix).read_bytes())
    writer.close()
    with ReadOnlyDatabase.open(crashed) as db:
        assert db.execute("SELECT sum(a) FROM t").rows == [(7,)]
    assert _side_files(crashed) == ["wal.sqlite-wal"]
