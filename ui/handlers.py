"""The Ask tab's event handlers, each a plain function of (service, inputs...) that returns the
outputs, so it is testable without a browser: ask, run the edited SQL, save or teach an example,
switch databases, set the language model.

A handler never raises: bad input (an empty question, a huge paste, a non-SQLite upload, a
schema that does not load, SQL that writes) becomes a marked message, and the session and every
other session keep working.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from rag.abstain import same_question
from rag.answer import Answer, Question
from rag.databases import DatabaseRef
from rag.errors import ConfigError
from rag.generators import NO_LLM_NOTICE
from rag.sandbox import QueryResult
from ui.downloads import download_update, write_csv
from ui.render import (
    EMPTY_TABLE,
    SKIP,
    WARN,
    Message,
    answer_message,
    assistant,
    can_teach,
    card_head,
    chart_updates,
    db_status,
    details,
    preview,
    problem,
    quoted,
    result_note,
    result_summary,
    result_table,
    retrieved_table,
    row_count,
    sql_block,
    user,
)
from ui.service import UIService
from ui.session import FOLLOW_UP_TURNS, Session, Turn, conversation_context

STREAM_INTERVAL_S = 0.1  # at most 10 chat updates a second while the LLM streams
WORKING = "…"
UI_NO_LLM_NOTICE = (
    "No language model is set up, so answers come from retrieval alone: each answer reuses the SQL of the "
    "closest stored example, and follow-up questions need a model. Set one up under *Language model* (left), "
    "on this machine or with a login."
)
LLM_KINDS = {"GGUF file": "gguf", "OpenAI-compatible URL": "openai"}


class AskOutputs(NamedTuple):
    history: list[Message]
    question_box: Any
    sql: Any
    table: Any
    note: Any
    retrieved: Any
    details: Any
    session: Session
    head: Any = SKIP  # the card's first lines: the question and what became of it
    download: Any = SKIP
    bar: Any = SKIP
    line: Any = SKIP
    scatter: Any = SKIP
    teach: Any = SKIP  # the "teach this" button, shown when knn abstains
    action: Any = SKIP  # the line under the SQL buttons


class DbOutputs(NamedTuple):
    history: list[Message]
    session: Session
    status: Any
    schema: Any
    picker: Any  # cleared after an upload or a pasted schema, so any demo can be picked again


class RunOutputs(NamedTuple):
    history: list[Message]
    table: Any
    note: Any
    download: Any = SKIP
    bar: Any = SKIP
    line: Any = SKIP
    scatter: Any = SKIP
    action: Any = SKIP


class SaveOutputs(NamedTuple):
    history: list[Message]
    status: Any
    action: Any = SKIP
    session: Any = SKIP


def clamp_k(k: Any, default: int) -> int:
    """The slider's k; an API caller may send anything."""
    try:
        return min(50, max(0, int(k)))
    except (TypeError, ValueError):
        return default


def on_ask(
    service: UIService, question: str | None, history: list[Message] | None, use_rag: bool, k: float, session: Session
) -> Iterator[AskOutputs]:
    """Ask a question: a progress message first (with the SQL as the LLM streams it), then the answer card."""
    history = list(history or [])
    question = question or ""
    if question.strip():
        history.append(user(preview(question)))
    try:
        checked = Question.parse(question, service.settings.max_question_chars)
    except ConfigError as exc:
        history.append(assistant(problem(exc)))
        yield AskOutputs(history, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, session, action=problem(exc))
        return
    k = clamp_k(k, service.settings.retrieval.k)
    steps = f"Retrieving {k} example{'s' if k != 1 else ''}, then generating" if use_rag and k else "Generating"
    progress = f"{WORKING} {steps} SQL with `{service.chain.generator.name}`…"
    history.append(assistant(progress))
    yield AskOutputs(history, "", SKIP, SKIP, SKIP, SKIP, SKIP, session, head=f"### {quoted(checked.text, 200)}\n\n{progress}", action="")
    hidden = gr.update(visible=False, value=None)
    try:
        answer, shown_at = None, 0.0
        context = conversation_context(session.turns) if service.chain.generator.uses_prompt else ""
        mine = next((sql for key, q, sql in session.saved if key == session.db.key and same_question(q, checked.text)), None)
        items = (
            [service.session_answer(checked.text, mine, session.db)]
            if mine
            else service.stream(checked, session.db, use_rag=use_rag, k=k, context=context)
        )
        for item in items:
            if isinstance(item, Answer):
                answer = item
            elif time.monotonic() - shown_at >= STREAM_INTERVAL_S:  # the LLM's answer so far, ≤ 10 updates/s
                shown_at = time.monotonic()
                history = [*history[:-1], assistant(f"{progress}\n\n```sql\n{item}\n```")]
                yield AskOutputs(history, "", SKIP, SKIP, SKIP, SKIP, SKIP, session)
    except Exception as exc:  # the UI boundary: every failure becomes a message
        history = [*history[:-1], assistant(problem(exc))]
        head = f"### {quoted(checked.text, 200)}\n\n{problem(exc)}"
        yield AskOutputs(
            history,
            "",
            SKIP,
            EMPTY_TABLE,
            "",
            EMPTY_TABLE,
            "",
            replace(session, question=checked.text),
            head,
            download_update(None),
            hidden,
            hidden,
            hidden,
            gr.update(visible=False),
        )
        return
    assert answer is not None
    history = [*history[:-1], assistant(answer_message(answer))]  # a new list: the progress step was already yielded
    limit = service.settings.ui.preview_rows
    ok = bool(answer.sql) and not answer.error
    bar, line, scatter = chart_updates(answer.columns, answer.rows) if ok else (hidden, hidden, hidden)
    turns = session.turns
    if ok:
        turns = (*turns, Turn(checked.text, answer.sql or "", result_summary(answer.columns, answer.rows, answer.truncated)))[
            -FOLLOW_UP_TURNS:
        ]
    yield AskOutputs(
        history,
        "",
        answer.sql or "",
        result_table(answer.columns, answer.rows, limit) if ok else EMPTY_TABLE,
        result_note(len(answer.rows), answer.truncated, limit) if ok else "",
        retrieved_table(answer, service.display_name),
        details(answer),
        replace(session, question=checked.text, turns=turns),
        card_head(answer)
        + (f"\n\n*A follow-up: the model saw {context.count('-- Q: ')} earlier question(s) of this conversation.*" if context else ""),
        download_update(write_csv(service.private.path, answer.columns, answer.rows) if ok else None),
        bar,
        line,
        scatter,
        gr.update(visible=can_teach(answer)),
    )


def on_run_sql(service: UIService, sql: str | None, history: list[Message] | None, session: Session) -> RunOutputs:
    """Re-run the SQL in the editor (validated read-only, executed in the sandbox)."""
    history = list(history or [])
    try:
        result: QueryResult = service.run_sql(sql or "", session.db)
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return RunOutputs(history, EMPTY_TABLE, "", action=problem(exc))
    limit = service.settings.ui.preview_rows
    history.append(
        assistant(
            f"Ran the edited SQL on `{session.db.label}`:\n{sql_block((sql or '').strip())}\n{row_count(len(result.rows), result.truncated)}"
        )
    )
    rows = [list(r) for r in result.rows]
    bar, line, scatter = chart_updates(result.columns, rows)
    return RunOutputs(
        history,
        result_table(result.columns, rows, limit),
        result_note(len(rows), result.truncated, limit),
        download_update(write_csv(service.private.path, result.columns, rows)),
        bar,
        line,
        scatter,
        f"Ran the edited SQL: {row_count(len(rows), result.truncated)}.",
    )


def on_save_example(
    service: UIService, sql: str | None, history: list[Message] | None, session: Session, user: str | None = None
) -> SaveOutputs:
    """Store the last question with the SQL in the editor as an example for this database: in the
    shared store (attributed to `user`) behind a login or with `ui.allow_shared_save`, else for
    this browser session only, with the `coderag db teach` command that would share it."""
    history = list(history or [])
    question = session.question
    try:
        if not question:
            raise ConfigError("ask a question first: an example is the last question plus the SQL in the editor")
        if not service.shared_saves:
            stored = service.check_example(question, sql or "", session.db)
            kept = tuple(e for e in session.saved if not (e[0] == session.db.key and same_question(e[1], stored.question)))
            session = replace(session, saved=(*kept, (session.db.key, stored.question, stored.sql)))
            db = session.db
            target = db.label if db.kind in ("demo", "registered") else str(db.path) if db.kind == "file" and db.path else None
            teach = f"coderag db teach {shlex.quote(target or 'NAME')} --question {shlex.quote(stored.question)} --sql {shlex.quote(stored.sql)}"
            text = (
                f"✓ Saved for this session: asking “{quoted(stored.question, 120)}” again here answers with this SQL. "
                "Without a login, saves are not shared with other users; to keep it for everyone and the CLI run "
                + (f"`{teach}`." if target else f"`coderag db add PATH --name NAME` on the database file, then `{teach}`.")
            )
            history.append(assistant(text))
            return SaveOutputs(history, SKIP, text, session)
        example, added = service.save_example(question, sql or "", session.db, author=user)
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return SaveOutputs(history, SKIP, problem(exc), session)
    if added:
        by = f" by {user}" if user else ""
        text = f"✓ Saved as an example for `{session.db.label}`{by}: “{quoted(example.question, 120)}”. Asking it again retrieves it."
    else:
        text = f"This question and SQL are already stored for `{session.db.label}`."
    history.append(assistant(text))
    return SaveOutputs(history, db_status(service, session.db), text, session)


def on_teach(
    service: UIService, sql: str | None, history: list[Message] | None, session: Session, user: str | None = None
) -> tuple[RunOutputs, SaveOutputs]:
    """ "Teach this": run the SQL in the editor, show its result, and save it with the question."""
    ran = on_run_sql(service, sql, history, session)
    if ran.table is EMPTY_TABLE and ran.history and ran.history[-1]["content"].startswith(WARN):
        return ran, SaveOutputs(ran.history, SKIP, ran.action, session)
    saved = on_save_example(service, sql, ran.history, session, user)
    return ran, saved


def _switch(service: UIService, history: list[Message] | None, session: Session, load: Callable[[], DatabaseRef]) -> DbOutputs:
    history = list(history or [])
    try:
        db = load()
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return DbOutputs(history, session, SKIP, SKIP, SKIP)
    history.append(assistant(f"Now answering questions about {db.summary}."))
    picker = SKIP if db.kind in ("demo", "file", "registered") else None
    return DbOutputs(history, Session(db=db), db_status(service, db), db.schema, picker)


def on_pick_database(service: UIService, name: str | None, history: list[Message] | None, session: Session) -> DbOutputs:
    """A demo or registered database (or the --db file) from the radio buttons."""
    if not name or name == session.db.label:
        return DbOutputs(list(history or []), session, SKIP, SKIP, SKIP)
    named = service.default_db if name == service.default_db.label else None
    return _switch(service, history, session, lambda: named or service.database(name))


def on_upload(service: UIService, path: str | None, history: list[Message] | None, session: Session) -> DbOutputs:
    """An uploaded SQLite file: size-checked, header-checked, copied privately, opened read-only."""
    if not path:
        return DbOutputs(list(history or []), session, SKIP, SKIP, SKIP)
    return _switch(service, history, session, lambda: service.upload(path, display_name=Path(path).name))


def on_paste_schema(service: UIService, script: str | None, history: list[Message] | None, session: Session) -> DbOutputs:
    """A pasted CREATE TABLE (+ INSERT) script, built into a private SQLite file."""
    return _switch(service, history, session, lambda: service.paste_schema(script or ""))


def ui_notice(service: UIService) -> str:
    notice = UI_NO_LLM_NOTICE if service.notice == NO_LLM_NOTICE else service.notice
    return f"ℹ {notice}" if notice else ""


def on_set_llm(service: UIService, kind: str | None, value: str | None) -> tuple[str, Any]:
    """Point the server at a local GGUF file or an OpenAI-compatible URL (checked before it is used)."""
    try:
        name = service.set_generator(LLM_KINDS.get(kind or "", kind or ""), value or "")
    except Exception as exc:
        return problem(exc), SKIP
    notice = ui_notice(service)
    return f"✓ Questions are now answered by `{name}` (for every session of this server).", gr.update(value=notice, visible=bool(notice))
