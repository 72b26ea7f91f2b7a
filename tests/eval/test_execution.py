"""Databases for EX: transpiled DDL, excluded examples, the per-run cache; and the modules' doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

from eval.scoring import Scorer
from rag.errors import DatabaseError
from rag.execution import DatabaseSource, build_database, sqlite_affinity
from rag.sandbox import ReadOnlyDatabase

MYSQL_CONTEXT = (
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, status ENUM('open', 'closed'), total DECIMAL(10,2), placed DATE); "
    "INSERT INTO orders (id, status, total, placed) VALUES (1, 'open', 10.50, '2024-01-02'), (2, N'closed', 3, '2024-02-03');"
)


@pytest.mark.parametrize("module", ["rag.execution", "eval.exact", "eval.relevance", "eval.retrieval", "eval.report"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_ddl_that_sqlite_rejects_is_transpiled():
    with pytest.raises(DatabaseError):
        ReadOnlyDatabase.from_script(MYSQL_CONTEXT)
    with build_database(MYSQL_CONTEXT, timeout_s=2, max_rows=100) as database:
        rows = database.execute("SELECT status, total, typeof(total) FROM orders ORDER BY id").rows
    assert rows == [("open", 10.5, "real"), ("closed", 3, "integer")]  # DECIMAL keeps SQLite's NUMERIC affinity


def test_gold_on_a_context_that_never_loads_is_excluded():
    with Scorer() as scorer:
        gold = scorer.gold("SELECT 1", DatabaseSource(context="CREATE TABLE t (a INT; INSERT INTO nowhere VALUES (1);"))
        assert gold.excluded and gold.excluded.startswith("database does not load")
        with pytest.raises(ValueError):
            scorer.score("SELECT 1", gold)


def test_failing_gold_query_is_excluded():
    with Scorer() as scorer:
        gold = scorer.gold("SELECT missing FROM t", DatabaseSource(context="CREATE TABLE t (a INT);"))
        assert gold.excluded and gold.excluded.startswith("gold query fails (execution_error)")


def test_each_context_is_built_once_per_run():
    context = "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2);"
    with Scorer() as scorer:
        for sql in ("SELECT a FROM t", "SELECT COUNT(*) FROM t", "SELECT a FROM t"):
            gold = scorer.gold(sql, DatabaseSource(context=context))
            assert scorer.score("SELECT a FROM t", gold).category in (None, "wrong_result")
        assert scorer.databases.builds == 1


def test_cache_closes_least_recently_used_databases():
    with Scorer(cache_size=2) as scorer:
        sources = [DatabaseSource(context=f"CREATE TABLE t{i} (a INT);") for i in range(3)]
        first = scorer.databases.get(sources[0])
        scorer.databases.get(sources[1])
        scorer.databases.get(sources[2])
        assert first._conn is None  # closed on eviction
        assert scorer.databases.get(sources[0]).execute("SELECT COUNT(*) FROM t0").rows == [(0,)]
        assert scorer.databases.builds == 4


@pytest.mark.parametrize(
    "declared, affinity",
    [("INT", "INTEGER"), ("VARCHAR(50)", "TEXT"), ("DOUBLE PRECISION", "REAL"), ("DECIMAL(10, 2)", "NUMERIC"), ("", "BLOB"), ("ENUM('a')", "NUMERIC")],
)
def test_sqlite_affinity(declared, affinity):
    assert sqlite_affinity(declared) == affinity
