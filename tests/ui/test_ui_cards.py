"""The answer card and the examples tab through the handlers (real service, real store, real
sandbox): the card's parts in order, a chart for a grouped count, the CSV download, errors as
their own message, knn's abstention with "teach this", database names instead of store keys, and
the examples tab editing the store that `coderag db show` reads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ui.examples_tab import on_add_example, on_delete_example, on_list_examples, on_select_example, on_update_example
from ui.handlers import on_ask, on_pick_database, on_run_sql, on_teach, on_upload
from ui.render import WARN
from ui.service import UIService
from ui.session import Session

GROUPED = "How many doctors does each department have?"
UNANSWERABLE = "What is the airspeed velocity of an unladen swallow?"


def final(service: UIService, session: Session, question: str, history=None):
    return list(on_ask(service, question, history or [], True, 3, session))[-1]


def visible_chart(outputs) -> str | None:
    shown = [
        kind for kind, update in zip(("bar", "line", "scatter"), (outputs.bar, outputs.line, outputs.scatter)) if update.get("visible")
    ]
    assert len(shown) <= 1
    return shown[0] if shown else None


def test_a_grouped_count_gets_a_bar_chart_a_csv_and_a_card_head(service: UIService, session: Session) -> None:
    clinic = on_pick_database(service, "clinic", [], session).session
    out = final(service, clinic, GROUPED)
    assert out.head.startswith(f"### {GROUPED}")
    assert "rows**" in out.head and "answered from a close example (confidence " in out.head and "closest example 0." in out.head
    assert visible_chart(out) == "bar"
    frame = out.bar["value"]
    assert list(frame.columns) == [out.bar["x"], out.bar["y"]] and len(frame) == len(out.table["data"]) >= 2
    with open(out.download["value"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == out.table["headers"] and len(rows) == len(out.table["data"]) + 1
    assert out.teach == {"__type__": "update", "visible": False}


def test_a_single_value_gets_no_chart(service: UIService, session: Session) -> None:
    out = final(service, session, "How many books are in the catalog?")
    assert visible_chart(out) is None
    assert "**1 row**" in out.head


def test_an_error_is_its_own_message_never_inside_the_previous_answer(service: UIService, session: Session) -> None:
    answered = final(service, session, "How many books are in the catalog?")
    answer_text = answered.history[-1]["content"]
    ran = on_run_sql(service, "DELETE FROM books", answered.history, answered.session)
    assert ran.history[-2]["content"] == answer_text  # the answer is untouched
    assert ran.history[-1]["role"] == "assistant" and ran.history[-1]["content"].startswith(f"{WARN} ")
    assert "read-only" in ran.action
    empty = list(on_ask(service, "", ran.history, True, 3, answered.session))[-1]
    assert empty.history[-1]["content"] == f"{WARN} the question is empty" and empty.history[-2] == ran.history[-1]


def test_knn_abstains_plainly_and_teach_this_runs_and_saves(service: UIService, session: Session) -> None:
    out = final(service, session, UNANSWERABLE)
    assert "No stored example matches this question well" in out.head
    assert out.head.count("(closeness 0.") == 3  # the nearest ones, with how close they were
    assert out.teach["visible"] is True
    assert out.sql  # the closest example's SQL is in the editor, not run
    sql = "SELECT count(*) AS swallows FROM books WHERE title LIKE '%swallow%'"
    ran, saved = on_teach(service, sql, out.history, out.session)
    assert ran.table["headers"] == ["swallows"]
    assert saved.history[-1]["content"].startswith("✓ Saved as an example")
    (stored,) = service.store.load("bookshop")
    assert (stored.question, stored.sql) == (UNANSWERABLE, sql)
    again = final(service, session, UNANSWERABLE)
    assert again.sql == sql and again.table["headers"] == ["swallows"] and again.teach["visible"] is False


def test_teach_this_with_bad_sql_saves_nothing(service: UIService, session: Session) -> None:
    out = final(service, session, UNANSWERABLE)
    ran, saved = on_teach(service, "DROP TABLE books", out.history, out.session)
    assert saved.history[-1]["content"].startswith(WARN) and service.store.load("bookshop") == []


def test_databases_are_shown_by_name_never_by_store_key(service: UIService, session: Session, pets_db: Path) -> None:
    pets = on_upload(service, str(pets_db), [], session).session
    assert pets.db.key.startswith("schema-")
    on_teach(
        service, "SELECT count(*) AS cats FROM pets WHERE species = 'cat'", [], final(service, pets, "How many cats do we have?").session
    )
    out = final(service, pets, "How many cats are there?")
    names = {row[2] for row in out.retrieved["data"]}
    assert names == {"my pets.sqlite"}
    other = final(service, session, "How many cats do we have?")  # the bookshop's question: pets's example is elsewhere
    assert not any(str(row[2]).startswith(("schema-", "upload-")) for row in other.retrieved["data"])


def test_examples_tab_lists_searches_edits_deletes_and_the_cli_sees_it(service: UIService, pets: Session, coderag) -> None:
    home = service.settings.home
    env = {"CODERAG_HOME": str(home)}
    listed = on_list_examples(service, pets)
    assert listed.table == {"headers": [""], "data": []} and "**0 examples of `pets`**" in listed.title

    added = on_add_example(service, pets, "How many dogs are there?", "SELECT count(*) FROM pets WHERE species = 'dog'")
    assert added.status.startswith("✓ Added") and added.table["data"] == [
        ["person", "How many dogs are there?", "SELECT count(*) FROM pets WHERE species = 'dog'"]
    ]
    assert "1 stored example" in added.db_status
    shown = coderag("db", "show", "pets", env=env)
    assert shown.returncode == 0 and "How many dogs are there?" in shown.stdout and "1 person" in shown.stdout

    refused = on_add_example(service, pets, "Remove the cats", "DELETE FROM pets WHERE species = 'cat'")
    assert refused.status.startswith(WARN) and "read-only" in refused.status
    on_add_example(service, pets, "List the pets by age", "SELECT name, age FROM pets ORDER BY age")
    assert on_list_examples(service, pets, "dogs").table["data"][0][1] == "How many dogs are there?"
    assert len(on_list_examples(service, pets, "", "synthesized").ids) == 0

    picked = on_select_example(service, pets, added.ids, 0)
    assert (picked.question, picked.sql) == ("How many dogs are there?", "SELECT count(*) FROM pets WHERE species = 'dog'")
    bad = on_update_example(service, pets, picked.selected, "How many dogs are there?", "SELECT count(*) FROM no_such_table")
    assert "no such table" in bad.status
    edited = on_update_example(
        service, pets, picked.selected, "How many dogs do we have?", "SELECT count(*) AS dogs FROM pets WHERE species = 'dog'"
    )
    assert edited.status.startswith("✓ Saved the edited example")
    shown = coderag("db", "show", "pets", env=env).stdout
    assert "How many dogs do we have?" in shown and "How many dogs are there?" not in shown
    assert final(service, pets, "How many dogs do we have?").table["data"] == [[1]]  # the index has the edit

    deleted = on_delete_example(service, pets, edited.selected)
    assert deleted.status.startswith("Deleted") and [r[1] for r in deleted.table["data"]] == ["List the pets by age"]
    shown = coderag("db", "show", "pets", env=env).stdout
    assert "How many dogs do we have?" not in shown and "1 stored examples" in shown
    assert all(doc.question != "How many dogs do we have?" for doc in service.chain.index.documents)


def test_examples_changed_with_the_cli_reach_the_ui(service: UIService, pets: Session) -> None:
    """The store is the one the CLI writes: an example stored by another process appears in the tab and in retrieval."""
    from rag.registry import StoredExample

    service.store.add(
        "pets", [StoredExample.make("pets", "Which pet is the oldest?", "SELECT name FROM pets ORDER BY age DESC LIMIT 1", "person")]
    )
    assert [r[1] for r in on_list_examples(service, pets).table["data"]] == ["Which pet is the oldest?"]
    assert final(service, pets, "Which pet is the oldest?").table["data"] == [["Tom"]]
    service.store.remove("pets")
    assert on_list_examples(service, pets).ids == []
    assert all(doc.db != "pets" for doc in service.chain.index.documents)


def test_demo_examples_are_listed_as_built_in_and_read_only(service: UIService, session: Session) -> None:
    listed = on_list_examples(service, session)
    assert len(listed.ids) >= 10 and all(row[0] == "person (built in)" for row in listed.table["data"])
    picked = on_select_example(service, session, listed.ids, 0)
    assert "built in (read-only)" in picked.status
    refused = on_delete_example(service, session, listed.ids[0])
    assert refused.status.startswith(WARN) and "built-in" in refused.status


def test_editing_examples_needs_a_login_when_others_can_reach_the_server(service: UIService, session: Session) -> None:
    service.settings.ui.host = "0.0.0.0"
    refused = on_add_example(service, session, "How many books?", "SELECT count(*) FROM books")
    assert refused.status.startswith(WARN) and "login" in refused.status
    from pydantic import SecretStr

    service.settings.ui.username, service.settings.ui.password = "ana", SecretStr("s3cret")
    assert on_add_example(service, session, "How many books?", "SELECT count(*) FROM books").status.startswith("✓ Added")


@pytest.mark.parametrize("origin", ["saved", "synth"])
def test_an_edit_is_a_persons(service: UIService, pets: Session, origin: str) -> None:
    from rag.registry import StoredExample

    service.store.add("pets", [StoredExample.make("pets", "How many pets?", "SELECT count(*) FROM pets", origin)])  # type: ignore[arg-type]
    listed = on_list_examples(service, pets)
    edited = on_update_example(service, pets, listed.ids[0], "How many pets are there?", "SELECT count(*) FROM pets")
    (stored,) = service.store.load("pets")
    assert stored.origin == ("saved" if origin == "saved" else "person") and stored.id == edited.selected


def test_follow_up_context_keeps_the_newest_turns_within_its_budget() -> None:
    from ui.render import result_summary
    from ui.session import CHARS_PER_TOKEN, Turn, conversation_context

    assert conversation_context(()) == ""
    turns = tuple(Turn(f"Question {i}?", f"SELECT {i}\n  FROM t", result_summary(["n"], [[i]], False)) for i in range(50))
    context = conversation_context(turns, budget_tokens=100)
    assert len(context) <= 100 * CHARS_PER_TOKEN + 100
    assert "-- Q: Question 49?\n-- SQL: SELECT 49 FROM t\n-- Result: 1 row; columns n; first row: 49" in context
    assert "Question 40?" not in context and context.index("Question 48?") < context.index("Question 49?")
    assert result_summary(["a", "b"], [], False) == "0 rows; columns a, b"


def test_without_an_llm_turns_do_not_reach_a_prompt_and_the_notice_says_follow_ups_need_one(service: UIService, session: Session) -> None:
    from ui.handlers import UI_NO_LLM_NOTICE

    first = final(service, session, "How many books are in the catalog?")
    assert len(first.session.turns) == 1
    second = final(service, session, "How many authors are there?", history=first.history)
    assert "follow-up" not in second.head.lower()
    assert "follow-up questions need a model" in UI_NO_LLM_NOTICE


def test_llm_settings_are_checked_on_submit_and_only_for_the_owner(
    service: UIService, session: Session, tiny_gguf: Path, tmp_path: Path
) -> None:
    """The panel points the server at a GGUF file (the real llama.cpp runtime, tiny random weights)
    or an OpenAI-compatible URL (a real HTTP server); bad input is refused before anything changes."""
    import socket

    from fixtures.hostile_llm import HostileLLM

    from ui.handlers import on_set_llm

    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    for kind, value, message in [
        ("GGUF file", str(tmp_path / "missing.gguf"), "no GGUF file at"),
        ("GGUF file", "", "no GGUF file at (empty)"),
        ("GGUF file", str(not_gguf), WARN),
        ("OpenAI-compatible URL", "ftp://example.org/v1", "not an http(s) URL"),
        ("OpenAI-compatible URL", f"http://127.0.0.1:{closed_port}/v1", "no OpenAI-compatible server answers"),
    ]:
        status, notice = on_set_llm(service, kind, value)
        assert status.startswith(WARN) and message in status, (value, status)
        assert service.chain.generator.name == "knn"

    with HostileLLM() as server:
        status, notice = on_set_llm(service, "OpenAI-compatible URL", server.url)
        assert status.startswith("✓") and service.chain.generator.name.startswith("openai:")
        assert notice == {"__type__": "update", "value": "", "visible": False}  # no more "no LLM" notice
        server.behaviour = "SELECT count(*) AS n FROM books"
        assert final(service, session, "How many books are there?").table["data"] == [[60]]

    service.settings.llm.max_tokens, service.settings.llm.grammar = 48, True
    status, _ = on_set_llm(service, "GGUF file", str(tiny_gguf))
    assert "`llm:tiny.gguf`" in status
    assert final(service, session, "How many books are there?").details.startswith("Answered by **llm:tiny.gguf**")

    service.settings.ui.host = "0.0.0.0"  # reachable by others, no login
    status, _ = on_set_llm(service, "GGUF file", str(tiny_gguf))
    assert status.startswith(WARN) and "needs a login" in status
