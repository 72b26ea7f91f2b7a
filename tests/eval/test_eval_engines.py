"""EX on another engine (eval.engines): each test database copied into DuckDB or a real PostgreSQL
(tests/fixtures/servers.py), the SQL transpiled from SQLite and run there, the copies dropped after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures.cli import invoke_main

from eval.engines import parse_engine_url, score_on_engine
from rag.corpus import Example, demo_db_path
from rag.errors import ConfigError

EVAL_DB = "coderag_eval"


@pytest.fixture(params=["duckdb", "postgresql", "mysql"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A scratch database the test may fill: a DuckDB file, or a PostgreSQL / MariaDB database the owner role may change."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'scratch.duckdb'}"
    from fixtures.servers import OWNER, OWNER_PASSWORD

    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        if EVAL_DB not in server.psql("SELECT datname FROM pg_database").split():
            server.create_database(EVAL_DB)
    else:
        server = request.getfixturevalue("mariadb_server")
        if EVAL_DB not in server.mysql("SHOW DATABASES").split():
            server.create_database(EVAL_DB)
    monkeypatch.setenv("CODERAG_DB_PASSWORD", OWNER_PASSWORD)  # how rag.engines reads a password
    return server.url(OWNER, EVAL_DB)


def _tables(url: str) -> list[str]:
    from rag.engines import open_url

    with open_url(url, allow_privileged_role=True) as database:
        return database.table_names()


def test_ex_is_computed_on_the_engine_and_the_copies_are_dropped(engine_url: str, coderag_home: Path) -> None:
    bookshop = str(demo_db_path("bookshop", coderag_home))
    script = "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, age INTEGER); INSERT INTO pets VALUES (1, 'Rex', 3), (2, 'Tom', 7), (3, 'Kit', 1);"
    examples = [
        Example(
            id="a", question="How many customers?", sql="SELECT COUNT(*) FROM customers", db_id="bookshop", context="", db_path=bookshop
        ),
        Example(id="b", question="Names by age", sql="SELECT name FROM pets ORDER BY age", db_id="pets", context=script),
        Example(
            id="c", question="Older than 2, as text", sql="SELECT name || ':' || age FROM pets WHERE age > 2", db_id="pets", context=script
        ),
    ]
    records: list[dict[str, Any]] = [
        {
            "id": "a",
            "rag": {"sql": "SELECT COUNT(*) FROM customers", "ex": True},
            "no_rag": {"sql": "SELECT COUNT(*) FROM orders", "ex": False},
        },
        # the right rows in the wrong order: ORDER BY in the gold query makes order count, there as here
        {
            "id": "b",
            "rag": {"sql": "SELECT name FROM pets ORDER BY age DESC", "ex": False},
            "no_rag": {"sql": "SELECT name FROM pets ORDER BY age", "ex": True},
        },
        # SQLite's || is transpiled (CONCAT / ||, per dialect); a query that does not run there is wrong there
        {
            "id": "c",
            "rag": {"sql": "SELECT name || ':' || age FROM pets WHERE age >= 3", "ex": True},
            "no_rag": {"sql": "SELECT nope FROM pets", "ex": False},
        },
    ]
    engine = score_on_engine(records, examples, parse_engine_url(engine_url), show_progress=False)
    assert (engine["databases"], engine["scored"], engine["gold_failed"], engine["not_loaded"]) == (2, 3, 0, 0), engine
    assert engine["ex"] == {"rag": round(2 / 3, 4), "no_rag": round(1 / 3, 4)}
    assert engine["ex_sqlite"] == {"rag": round(2 / 3, 4), "no_rag": round(1 / 3, 4)}
    assert engine["carried_over"] == {"rag": 1.0, "no_rag": 1.0}
    assert engine["errors"] == {"no_rag execution_error": 1}
    assert "password" not in json.dumps(engine) and engine["url"].startswith(engine_url.split(":")[0])
    assert _tables(engine_url) == []  # nothing of the copies is left behind


def test_eval_run_engine_url_reports_ex_there(engine_url: str, coderag_home: Path, encoder, tmp_path: Path) -> None:
    """`eval run --engine-url`: metrics.json's engine section over the same questions as SQLite's EX."""
    import rag.encoders

    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rag.encoders, "load_encoder", lambda *args, **kwargs: encoder)
        code = invoke_main(
            ["eval", "run", "--generator", "knn", "--limit", "12", "--engine-url", engine_url, "--out", str(out), "--no-progress"]
        )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    engine = metrics["engine"]
    assert engine["scored"] + engine["gold_failed"] + engine["not_loaded"] == metrics["rag"]["n"]
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    if engine["gold_failed"] == engine["not_loaded"] == 0:  # the same questions: SQLite's EX is the run's own
        assert engine["ex_sqlite"]["rag"] == round(sum(r["rag"]["ex"] for r in records if not r["excluded"]) / engine["scored"], 4)
    assert 0 <= engine["ex"]["rag"] <= 1 and "no_rag" in engine["ex"]
    assert f"## On {engine['engine']}" in (out / "report.md").read_text()
    assert "engine" in metrics["config"]["phases_s"]
    assert _tables(engine_url) == []


def test_engine_url_must_name_another_engine() -> None:
    with pytest.raises(ConfigError, match="SQLite"):
        parse_engine_url("sqlite:///x.sqlite")


def test_eval_run_with_a_bad_engine_url_fails_before_running(coderag, tmp_path: Path) -> None:
    result = coderag("eval", "run", "--generator", "knn", "--limit", "2", "--engine-url", "oracle://me@h/x", "--out", str(tmp_path / "r"))
    assert result.returncode != 0 and "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "r").exists()
