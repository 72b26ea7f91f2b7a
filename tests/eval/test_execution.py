"""The one SQL execution module (rag.execution): transpiled DDL, excluded examples, the per-run
cache, the golden "same result" cases that eval and synth must judge alike; and the doctests."""

from __future__ import annotations

import doctest
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from eval.scoring import Scorer
from rag.errors import DatabaseError, SQLError
from rag.execution import DatabaseCache, DatabaseSource, build_database, sqlite_affinity
from rag.sandbox import ReadOnlyDatabase
from synth.mining import ExecutionEquivalence
from synth.sql.context import ExampleDatabase, database_cache

EQUALITY = Path(__file__).resolve().parents[1] / "fixtures" / "execution" / "equality.sql"

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
        assert first.closed  # closed on eviction
        assert scorer.databases.get(sources[0]).execute("SELECT COUNT(*) FROM t0").rows == [(0,)]
        assert scorer.databases.builds == 4


@pytest.mark.parametrize(
    "declared, affinity",
    [
        ("INT", "INTEGER"),
        ("VARCHAR(50)", "TEXT"),
        ("DOUBLE PRECISION", "REAL"),
        ("DECIMAL(10, 2)", "NUMERIC"),
        ("", "BLOB"),
        ("ENUM('a')", "NUMERIC"),
    ],
)
def test_sqlite_affinity(declared, affinity):
    assert sqlite_affinity(declared) == affinity


@pytest.mark.parametrize("declared", ["INT", "VARCHAR(5)"])
def test_result_cache_remembers_results_and_failures(declared):
    source = DatabaseSource(context=f"CREATE TABLE t (a {declared}); INSERT INTO t VALUES (1);")
    with DatabaseCache(result_capacity=2) as cache:
        first = cache.run(source, "SELECT a FROM t")
        assert cache.run(source, "SELECT a FROM t") is first
        for _ in range(2):
            with pytest.raises(SQLError):
                cache.run(source, "SELECT missing FROM t")
        cache.run(source, "SELECT 2")  # a third result: the least recently used one is forgotten
        assert cache.run(source, "SELECT a FROM t") is not first
        assert cache.builds == 1
    with DatabaseCache() as cache:  # no result capacity: every run executes
        assert cache.run(source, "SELECT a FROM t") is not cache.run(source, "SELECT a FROM t")


def test_same_result_is_none_when_the_database_does_not_load():
    with DatabaseCache() as cache:
        assert cache.same_result(DatabaseSource(context="CREATE TABLE t (a INT;"), "SELECT 1", "SELECT 1") is None


# --- golden "same result" cases: eval's EX and synth's checks must agree ---------------------


@dataclass(frozen=True)
class EqualityCase:
    name: str
    context: str
    expect: str
    gold: str
    pred: str


def load_equality_cases(path: Path) -> list[EqualityCase]:
    """`-- context:` blocks (a database script) followed by `-- case:` blocks (see the file's header)."""
    cases, context = [], ""
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if lines and lines[0].startswith("-- context:"):
            context = "\n".join(lines[1:])
        elif lines and lines[0].startswith("-- case:"):
            name, expect = (line.split(":", 1)[1].strip() for line in lines[:2])
            cases.append(EqualityCase(name, context, expect, lines[2], lines[3]))
    return cases


EQUALITY_CASES = load_equality_cases(EQUALITY)


def test_equality_fixture_covers_every_verdict_and_the_old_disagreements():
    assert {c.expect for c in EQUALITY_CASES} == {"same", "different", "error"}
    assert sum("(disagreed)" in c.name for c in EQUALITY_CASES) >= 4
    with pytest.raises(DatabaseError):  # the MySQL context: SQLite alone rejects it
        ReadOnlyDatabase.from_script(next(c.context for c in EQUALITY_CASES if c.context.count("ENUM")))


@pytest.fixture(scope="module")
def scorer():
    with Scorer() as scorer:
        yield scorer


@pytest.fixture(scope="module")
def synth_databases():
    with database_cache() as cache:
        yield cache


@pytest.mark.parametrize("case", EQUALITY_CASES, ids=[c.name for c in EQUALITY_CASES])
def test_equality_golden_case_in_eval_and_synth(case, scorer, synth_databases):
    gold = scorer.gold(case.gold, DatabaseSource(context=case.context))
    assert gold.excluded is None
    score = scorer.score(case.pred, gold)
    by_eval = "same" if score.ex else "error" if score.category in ("execution_error", "timeout") else "different"
    same = ExampleDatabase.of(synth_databases, case.context, None).same_result(case.gold, case.pred)
    by_rules = {True: "same", False: "different", None: "error"}[same]
    with ExecutionEquivalence([case.gold], [case.pred], [case.context]) as false_negative:
        by_mining = false_negative(0, 0)
    assert (by_eval, by_rules, by_mining) == (case.expect, case.expect, case.expect == "same")
