"""The hostile-input corpus through the UI: its handlers (run SQL, ask an OpenAI-compatible server
that misbehaves) answer every input with one chat message within the time limit + 1 s, never
"something went wrong", and write nothing; a hung model call does not hold up anyone else, in
the handlers or through the running app's queue."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.hostile_corpus import LLM_LIMIT_S, QUESTION, SIDE_FILE, SQL_LIMIT_S, digest, entries, expand, ui_problems
from fixtures.hostile_llm import HostileLLM


@pytest.fixture(scope="module")
def hostile_service(
    tmp_path_factory: pytest.TempPathFactory, coderag_home: Path, encoder: Any, default_index: Any, hostile_llm: HostileLLM
) -> Iterator[Any]:
    """A UI service whose generator is the hostile server, on a copy of the bookshop database."""
    from rag.chain import TextToSQL
    from rag.corpus import demo_db_path
    from rag.generators import make_generator
    from rag.settings import load_settings
    from ui.service import UIService

    home = tmp_path_factory.mktemp("ui_hostile")
    db = home / "bookshop.sqlite"
    shutil.copyfile(demo_db_path("bookshop", coderag_home), db)
    settings = load_settings(
        home=coderag_home,
        execution={"timeout_s": SQL_LIMIT_S, "max_memory_mb": 64, "max_result_mb": 8},
        openai={"timeout_s": LLM_LIMIT_S, "concurrency": 4},
    )
    generator, _ = make_generator("openai", settings, base_url=hostile_llm.url)
    with UIService(TextToSQL(settings, default_index, encoder, generator), index_dir=None, default_db=str(db)) as service:
        yield service


@pytest.fixture(scope="module")
def baselines(hostile_service: Any, hostile_llm: HostileLLM) -> dict[str, float]:
    hostile_llm.behaviour = "SELECT 1"
    return {"run": min(_run_sql(hostile_service, "SELECT 1")[1] for _ in range(2)), "ask": min(_ask(hostile_service)[1] for _ in range(2))}


def _session(service: Any) -> Any:
    from ui.session import Session

    return Session(db=service.default_db)


def _run_sql(service: Any, sql: str) -> tuple[str, float]:
    from ui.handlers import on_run_sql

    started = time.monotonic()
    history = on_run_sql(service, sql, [], _session(service)).history
    return history[-1]["content"], time.monotonic() - started


def _ask(service: Any, question: str = QUESTION) -> tuple[str, float]:
    from ui.handlers import on_ask

    started = time.monotonic()
    history: list = []
    for outputs in on_ask(service, question, [], True, 3, _session(service)):
        history = outputs.history
    return history[-1]["content"], time.monotonic() - started


@pytest.mark.parametrize("entry", [e for e in entries("ui") if "sql" in e], ids=lambda e: e["id"])
def test_run_sql_handler(entry: dict[str, Any], hostile_service: Any, baselines: dict[str, float]) -> None:
    db = hostile_service.default_db.path
    SIDE_FILE.unlink(missing_ok=True)
    before = digest(db)
    message, elapsed = _run_sql(hostile_service, expand(entry["sql"]))
    assert not ui_problems(entry, message), message[:300]
    assert elapsed <= baselines["run"] + SQL_LIMIT_S + 1
    assert digest(db) == before and not SIDE_FILE.exists()


@pytest.mark.parametrize("entry", [e for e in entries("ui") if "llm" in e], ids=lambda e: e["id"])
def test_ask_handler_against_a_hostile_server(
    entry: dict[str, Any], hostile_service: Any, hostile_llm: HostileLLM, baselines: dict[str, float]
) -> None:
    hostile_llm.behaviour = entry["llm"]
    message, elapsed = _ask(hostile_service)
    assert not ui_problems(entry, message), message[:300]
    limit = LLM_LIMIT_S if entry["llm"] in ("hang", "drip") else SQL_LIMIT_S
    assert elapsed <= baselines["ask"] + limit + 1


def test_a_hung_model_call_does_not_hold_up_other_users(hostile_service: Any, hostile_llm: HostileLLM, baselines: dict[str, float]) -> None:
    """No lock around a remote generator: while one question waits on a hung server, another is answered."""
    hostile_llm.behaviour = "SELECT count(*) FROM books"
    hostile_llm.by_question = {"hang please": "hang"}
    try:
        hung = threading.Thread(target=_ask, args=(hostile_service, "hang please: how many books?"))
        hung.start()
        time.sleep(0.3)
        message, elapsed = _ask(hostile_service)
        assert not message.startswith("⚠️") and elapsed <= baselines["ask"] + 1
        message, elapsed = _run_sql(hostile_service, "SELECT 1")
        assert not message.startswith("⚠️") and elapsed <= baselines["run"] + 1
        hung.join(LLM_LIMIT_S + 2)
        assert not hung.is_alive()
    finally:
        hostile_llm.by_question = {}


def test_through_the_app_queue_sql_does_not_wait_behind_hung_questions(hostile_service: Any, hostile_llm: HostileLLM, port: int) -> None:
    """Through the running app: questions have their own lane, so /run_sql is answered while every
    question slot waits on the hung server."""
    from gradio_client import Client

    from ui.app import build_app, launch

    hostile_llm.behaviour = "hang"
    demo = build_app(hostile_service)
    url = launch(demo, hostile_service, host="127.0.0.1", port=port, block=False, quiet=True)
    try:
        client = Client(url, verbose=False)
        jobs = [
            client.submit("How many books?", [], True, 3, api_name="/ask") for _ in range(hostile_service.settings.ui.concurrency_limit)
        ]
        time.sleep(0.5)
        started = time.monotonic()
        history, *_ = client.predict("SELECT count(*) FROM books", [], api_name="/run_sql")
        assert time.monotonic() - started < LLM_LIMIT_S
        assert "1 row" in str(history[-1]["content"])
        for job in jobs:
            assert "⚠️" in str(job.result(timeout=LLM_LIMIT_S + 10)[0][-1]["content"])
    finally:
        hostile_llm.behaviour = "SELECT 1"
        demo.close()


def test_follow_up_questions_carry_the_earlier_turns_into_the_prompt(hostile_service: Any, hostile_llm: HostileLLM) -> None:
    """With an LLM (here a real OpenAI-compatible HTTP server), the second question's prompt holds
    the first question, its SQL and a summary of its result; a fresh session's does not."""
    from ui.handlers import on_ask

    def ask(question: str, session: Any) -> Any:
        return list(on_ask(hostile_service, question, [], True, 3, session))[-1]

    hostile_llm.behaviour = "SELECT count(*) AS books FROM books"
    hostile_llm.by_question = {
        "-- Q: How many books are there?\\n-- SQL: SELECT count(*) AS books FROM books\\n-- Result: 1 row; columns books; first row: 60": "SELECT 7 AS followed_up"
    }
    try:
        first = ask("How many books are there?", _session(hostile_service))
        assert first.table["data"] == [[60]] and len(first.session.turns) == 1
        follow_up = ask("And how many of them are poetry?", first.session)
        assert follow_up.sql == "SELECT 7 AS followed_up"
        assert "the model saw 1 earlier question" in follow_up.head
        alone = ask("And how many of them are poetry?", _session(hostile_service))
        assert alone.sql == "SELECT count(*) AS books FROM books"
    finally:
        hostile_llm.by_question = {}
        hostile_llm.behaviour = "SELECT 1"
