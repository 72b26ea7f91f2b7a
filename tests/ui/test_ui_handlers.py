"""The request handlers as plain Python functions: answers, bad input, re-running edited SQL,
switching databases, and "save as example" teaching the index without a rebuild."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rag.generators import NO_LLM_NOTICE
from rag.index import VectorIndex
from ui.handlers import (
    AskOutputs,
    on_ask,
    on_paste_schema,
    on_pick_database,
    on_run_sql,
    on_save_example,
    on_upload,
)
from ui.render import EMPTY_TABLE
from ui.service import UIService
from ui.session import Session


def ask(service: UIService, session: Session, question: str, *, use_rag: bool = True, k: int = 3, history=None) -> list[AskOutputs]:
    return list(on_ask(service, question, history or [], use_rag, k, session))


def last_message(history: list[dict]) -> str:
    return history[-1]["content"]


def test_ask_shows_progress_then_sql_table_examples_and_timings(service: UIService, session: Session) -> None:
    steps = ask(service, session, "How many books are in the catalog?")
    assert len(steps) == 2
    assert last_message(steps[0].history).startswith("… Retrieving 3 examples, then generating SQL with `knn`")
    final = steps[-1]
    assert [m["role"] for m in final.history] == ["user", "assistant"]
    assert final.sql == "SELECT COUNT(*) AS book_count FROM books"
    assert "```sql\nSELECT COUNT(*) AS book_count FROM books\n```" in last_message(final.history)
    assert final.table == {"headers": ["book_count"], "data": [[60]]}
    assert final.note == "**1 row**."
    assert final.retrieved["headers"] == ["#", "closeness", "database", "question", "sql"]
    assert len(final.retrieved["data"]) == 3 and all(row[2] == "bookshop" for row in final.retrieved["data"])
    assert final.details.startswith("Answered by **knn** (k=3) · retrieve ")
    assert final.session.question == "How many books are in the catalog?"
    assert final.question_box == ""
    assert service.notice == NO_LLM_NOTICE


def test_large_results_show_first_rows_and_the_total(service: UIService, session: Session) -> None:
    service.settings.ui.preview_rows = 5
    outputs = on_run_sql(service, "SELECT title FROM books", [], session)
    assert len(outputs.table["data"]) == 5
    assert outputs.note == "Showing the first 5 of **60 rows**."


def test_empty_question_and_huge_paste_get_a_message_and_the_app_keeps_working(service: UIService, session: Session) -> None:
    (empty,) = ask(service, session, "   ")
    assert last_message(empty.history) == "⚠️ the question is empty"
    assert empty.history[0]["role"] == "assistant"  # no empty user bubble
    huge = "How many books? " * 1000
    (too_long,) = ask(service, session, huge, history=empty.history)
    assert "the limit is 2,000" in last_message(too_long.history)
    assert len(too_long.history[-2]["content"]) < 400  # the paste is not echoed in full
    final = ask(service, session, "How many books are in the catalog?", history=too_long.history)[-1]
    assert final.table["data"] == [[60]]


def test_k_from_an_api_caller_is_clamped(service: UIService, session: Session) -> None:
    assert ask(service, session, "How many books are in the catalog?", k=500)[-1].details.startswith("Answered by **knn** (k=50)")
    assert "(k=3)" in ask(service, session, "How many books are in the catalog?", k="lots")[-1].details


def test_rag_off_with_knn_explains_why_there_is_no_answer(service: UIService, session: Session) -> None:
    final = ask(service, session, "How many books are in the catalog?", use_rag=False)[-1]
    assert "⚠️ **No SQL:** knn has no stored example" in last_message(final.history)
    assert final.table == EMPTY_TABLE and final.sql == ""
    assert "(RAG off)" in final.details


def test_edited_sql_reruns_and_writes_are_refused(service: UIService, session: Session) -> None:
    ok = on_run_sql(service, "SELECT name FROM genres ORDER BY name LIMIT 2", [], session)
    assert ok.table["headers"] == ["name"] and len(ok.table["data"]) == 2
    assert "Ran the edited SQL on `bookshop`" in last_message(ok.history)
    for sql, message in [
        ("DELETE FROM books", "only read-only SELECT queries are allowed"),
        ("DROP TABLE books", "only read-only SELECT queries are allowed"),
        ("SELECT 1; DELETE FROM books", "only one SQL statement"),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "⚠️"),
        ("", "the SQL is empty"),
        ("SELEC * FRM books", "⚠️"),
        ("SELECT * FROM no_such_table", "no such table"),
    ]:
        outputs = on_run_sql(service, sql, [], session)
        assert message in last_message(outputs.history), sql
        assert outputs.table == EMPTY_TABLE
    assert on_run_sql(service, "SELECT count(*) FROM books", [], session).table["data"] == [[60]]


def test_switching_databases(service: UIService, session: Session, pets_db: Path, pets_script: str, tmp_path: Path) -> None:
    clinic = on_pick_database(service, "clinic", [], session)
    assert clinic.session.db.key == "clinic" and "CREATE TABLE patients" in clinic.schema
    assert "stored examples" in clinic.status and "`clinic`" in last_message(clinic.history)
    assert "patient" in ask(service, clinic.session, "How many patients are there?")[-1].sql

    fake = tmp_path / "fake.sqlite"
    fake.write_bytes(b"not a database at all")
    refused = on_upload(service, str(fake), clinic.history, clinic.session)
    assert "fake.sqlite is not a SQLite database" in last_message(refused.history)
    assert refused.session == clinic.session  # still on clinic

    broken = on_paste_schema(service, "CREATE TABLE t (a INT,, b);", [], clinic.session)
    assert "the schema does not load in SQLite" in last_message(broken.history)
    assert broken.session == clinic.session

    uploaded = on_upload(service, str(pets_db), [], clinic.session)
    assert uploaded.session.db.kind == "upload" and uploaded.session.db.label == "my pets.sqlite"
    assert uploaded.picker is None  # the demo radio is cleared, so clinic can be picked again
    assert on_pick_database(service, "clinic", [], uploaded.session).session.db.key == "clinic"
    pasted = on_paste_schema(service, pets_script, [], clinic.session)
    assert pasted.session.db.kind == "schema"
    assert on_run_sql(service, "SELECT count(*) FROM pets", [], pasted.session).table["data"] == [[3]]


def test_save_as_example_teaches_the_index(service: UIService, session: Session, encoder) -> None:
    question = "Which publishers were founded before 1950?"
    sql = "SELECT name, founded_year FROM publishers WHERE founded_year < 1950 ORDER BY founded_year"
    before = ask(service, session, question)[-1]
    assert before.sql != sql
    count = service.example_count(session.db)
    saved = on_save_example(service, sql, before.history, before.session)
    assert "✓ Saved as an example for `bookshop`" in last_message(saved.history)
    assert f"{count + 1} stored examples" in saved.status

    after = ask(service, session, question)[-1]
    top = after.retrieved["data"][0]
    assert (top[3], top[4]) == (question, sql)
    assert after.sql == sql

    # persisted: the example store line and the saved index, without a rebuild
    (stored,) = service.store.load("bookshop")
    assert (stored.question, stored.sql, stored.origin) == (question, sql, "saved")
    assert json.loads(service.store.path_for("bookshop").read_text())["id"] == stored.id
    on_disk = VectorIndex.load(service.index_dir, encoder)
    assert on_disk.documents[-1].id == stored.id and on_disk.manifest["count"] == len(on_disk.documents)

    again = on_save_example(service, sql, [], before.session)
    assert "already stored" in last_message(again.history)
    assert len(service.store.load("bookshop")) == 1


def test_saved_examples_come_back_after_an_index_rebuild(service: UIService, session: Session, encoder, default_index) -> None:
    """A fresh service over an index without the saved example (e.g. rebuilt) restores it from the store."""
    from ui.handlers import on_save_example as save

    outputs = ask(service, session, "List the genres in alphabetical order")[-1]
    save(service, "SELECT name FROM genres ORDER BY name", [], outputs.session)
    assert default_index.manifest["count"] == len(default_index.documents)  # the shared fixture is untouched
    restarted = UIService(service.chain.with_index(default_index), index_dir=None)
    try:
        assert restarted.example_count(session.db) == service.example_count(session.db)
    finally:
        restarted.private.close()


def test_a_new_database_learns_from_saved_examples(service: UIService, session: Session, pets_db: Path) -> None:
    pets = on_upload(service, str(pets_db), [], session).session
    question = "How many cats do we have?"
    first = ask(service, pets, question)[-1]
    # no stored example yet: the answer is composed from what the question names (rag.compose)
    assert "WHERE T1.\"species\" = 'cat'" in last_message(first.history) and first.table["data"] == [[1]]
    assert first.session.question == question
    unknown = ask(service, pets, "Which of them live on the moon?")[-1]
    assert "nothing in the question was linked to this database" in last_message(unknown.history)
    saved = on_save_example(service, "SELECT count(*) AS cats FROM pets WHERE species = 'cat'", [], first.session)
    assert "✓ Saved" in last_message(saved.history)
    again = ask(service, pets, question)[-1]
    assert again.table == {"headers": ["cats"], "data": [[1]]}


def test_save_needs_a_question_and_read_only_sql_that_runs(service: UIService, session: Session) -> None:
    no_question = on_save_example(service, "SELECT 1", [], session)
    assert "ask a question first" in last_message(no_question.history)
    asked = ask(service, session, "How many books are in the catalog?")[-1].session
    for sql, message in [("DELETE FROM books", "read-only"), ("SELECT * FROM nope", "no such table"), ("", "the SQL is empty")]:
        outputs = on_save_example(service, sql, [], asked)
        assert message in last_message(outputs.history)
    assert all(service.store.load(key) == [] for key in service.store.keys())


def test_concurrent_sessions_with_saves(service: UIService, session: Session) -> None:
    clinic = on_pick_database(service, "clinic", [], session).session
    errors: list[str] = []

    def user(n: int) -> None:
        mine = clinic if n % 2 else session
        for i in range(4):
            final = ask(
                service, mine, "How many patients are registered at the clinic?" if n % 2 else "How many books are in the catalog?"
            )[-1]
            if not final.table["data"]:
                errors.append(last_message(final.history))
            if n == 0 and i == 1:
                on_save_example(service, "SELECT count(*) FROM authors", [], final.session)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(service.store.load("bookshop")) == 1


def test_llama_cpp_generator_is_serialised_across_sessions(tmp_path: Path, encoder, default_index, tiny_gguf) -> None:
    """The real llama.cpp runtime (tiny random GGUF + the SELECT grammar) under concurrent sessions:
    every request gets an answer message, none hits an internal error."""
    from rag.chain import TextToSQL
    from rag.generators import make_generator
    from rag.settings import load_settings
    from ui.render import INTERNAL_ERROR

    settings = load_settings(home=tmp_path / "home", llm={"model_path": tiny_gguf, "grammar": True, "max_tokens": 48})
    generator, notice = make_generator(settings.generator, settings)
    assert notice is None
    with UIService(TextToSQL(settings, default_index, encoder, generator, notice=notice)) as svc:
        start = Session(db=svc.default_db)
        results: list[AskOutputs] = []

        def user(question: str) -> None:
            steps = ask(svc, start, question)
            assert "with `llm:tiny.gguf`" in last_message(steps[0].history)
            results.append(steps[-1])

        threads = [threading.Thread(target=user, args=(q,)) for q in ("How many books?", "List authors", "Top customers", "Books by price")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 4
    for final in results:
        assert last_message(final.history) != INTERNAL_ERROR
        assert final.details.startswith("Answered by **llm:tiny.gguf** (k=3)")
        assert final.sql.upper().startswith(("SELECT", "WITH"))


def test_an_encoder_serves_one_caller_at_a_time() -> None:
    """The UI shares one encoder between sessions: its own lock keeps calls from overlapping."""
    import time

    import numpy as np

    from rag.encoders import SentenceTransformerEncoder

    class Probe:
        active = peak = 0

        def encode(self, texts, **kwargs):
            Probe.active += 1
            Probe.peak = max(Probe.peak, Probe.active)
            time.sleep(0.005)
            Probe.active -= 1
            return np.ones((len(texts), 4), dtype=np.float32)

    shared = SentenceTransformerEncoder(name="probe", fingerprint="probe", model=Probe(), single_text_threads=None)
    threads = [threading.Thread(target=shared.encode, args=(["q"],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Probe.peak == 1


def test_llm_answers_stream_into_the_progress_message(tmp_path: Path, encoder, default_index, tiny_gguf, monkeypatch) -> None:
    """With llama.cpp the SQL appears token by token before the answer; knn (above) goes straight to the answer."""
    import ui.handlers
    from rag.answer import Answer
    from rag.chain import TextToSQL
    from rag.generators import make_generator
    from rag.settings import load_settings

    monkeypatch.setattr(ui.handlers, "STREAM_INTERVAL_S", 0.0)  # show every update
    settings = load_settings(home=tmp_path / "home", llm={"model_path": tiny_gguf, "grammar": True, "max_tokens": 1536})
    generator, _ = make_generator(settings.generator, settings)
    with UIService(TextToSQL(settings, default_index, encoder, generator)) as svc:
        items = list(svc.stream("How many books are there?", svc.default_db, use_rag=True, k=3))
        texts, answer = items[:-1], items[-1]
        assert isinstance(answer, Answer) and all(isinstance(t, str) for t in texts)
        assert len(texts) > 3
        assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))  # it grows
        # and ends as the generated answer; a query that failed got one repair turn (not streamed), whose answer is the final one
        assert texts[-1] == answer.raw or answer.repaired

        steps = ask(svc, Session(db=svc.default_db), "How many books are there?")
        streamed = [last_message(s.history) for s in steps[1:-1]]
        assert streamed and all("```sql" in m and m.startswith("…") for m in streamed)
        assert steps[-1].sql.upper().startswith(("SELECT", "WITH")) and not last_message(steps[-1].history).startswith("…")


def test_without_a_login_a_save_lasts_for_its_session_only(service: UIService, session: Session) -> None:
    service.shared_saves = False  # `launch` without a login or --allow-shared-save
    question = "Which books mention a swallow in the title?"
    asked = ask(service, session, question)[-1].session
    sql = "SELECT count(*) AS swallows FROM books WHERE title LIKE '%swallow%'"
    saved = on_save_example(service, sql, [], asked)
    assert "Saved for this session" in saved.action and "coderag db teach bookshop --question" in saved.action
    assert service.store.load("bookshop") == [] and all(question not in d.question for d in service.chain.index.documents)
    mine = saved.session
    again = ask(service, mine, question.upper())[-1]  # the same words: answered with the saved SQL
    assert again.sql == sql and again.table["headers"] == ["swallows"]
    other = ask(service, session, question)[-1]  # another session never sees it
    assert other.sql != sql

    bad = on_save_example(service, "DELETE FROM books", [], asked)  # still validated
    assert "read-only" in bad.action and bad.session.saved == ()


def test_behind_a_login_a_save_is_shared_and_attributed(service: UIService, session: Session) -> None:
    assert service.shared_saves  # the fixture's service stands for one behind a login
    asked = ask(service, session, "Which books mention a swallow in the title?")[-1].session
    saved = on_save_example(service, "SELECT count(*) FROM books WHERE title LIKE '%swallow%'", [], asked, user="ana")
    assert "by ana" in saved.action
    [stored] = service.store.load("bookshop")
    assert stored.meta == {"author": "ana"} and stored.origin == "saved"


def test_saves_are_shared_only_behind_a_login_or_when_allowed() -> None:
    from rag.settings import UISettings
    from ui.app import check_exposure, saves_are_shared

    open_ui = UISettings()
    assert not saves_are_shared(open_ui, check_exposure(open_ui, "127.0.0.1", share=False, insecure=False))
    with_login = UISettings(username="ana", password="s3cret")
    assert saves_are_shared(with_login, check_exposure(with_login, "127.0.0.1", share=False, insecure=False))
    allowed = UISettings(allow_shared_save=True)
    assert saves_are_shared(allowed, None)
