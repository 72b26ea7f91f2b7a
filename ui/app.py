"""The Gradio app: `build_app(service) -> gr.Blocks`, with every event handler a plain function
of (service, inputs...) that returns the outputs, so it is testable without a browser.

A handler never raises: bad input (an empty question, a huge paste, a non-SQLite upload, a
schema that does not load, SQL that writes) becomes a message in the chat, and the session
and every other session keep working.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from rag.chain import Answer, Question
from rag.databases import DatabaseRef
from rag.errors import CodeRagError, ConfigError
from rag.sandbox import QueryResult
from rag.settings import UISettings
from ui.service import UIService

log = logging.getLogger(__name__)

Message = dict[str, str]
Table = dict[str, list]
SKIP: dict[str, Any] = gr.skip()
EMPTY_TABLE: Table = {"headers": [""], "data": []}
QUESTION_PREVIEW_CHARS = 300
CELL_CHARS = 500  # longer values are cut in the table (the row count and the SQL stay exact)
MESSAGE_CHARS = 1_000  # longer error messages are cut in the chat
SQL_SHOWN_CHARS = 5_000
STREAM_INTERVAL_S = 0.1  # at most 10 chat updates a second while the LLM streams
INTERNAL_ERROR = "⚠️ Something went wrong on the server (details are in its log). Try again or pick another database."
ERROR_TITLES = {
    "no_sql": "No SQL",
    "parse_error": "SQL does not parse",
    "not_select": "Not a SELECT query",
    "forbidden": "Refused",
    "execution_error": "SQL failed to run",
    "timeout": "Query timed out",
    "too_large": "Over a limit",
    "busy": "Busy",
    "generation_error": "The model failed",
    "abstain": "No stored example matches well",
}


@dataclass(frozen=True)
class Session:
    """Per-browser-session state: the database picked and the last question asked
    (what "save as example" stores together with the SQL in the editor)."""

    db: DatabaseRef
    question: str | None = None


class AskOutputs(NamedTuple):
    history: list[Message]
    question_box: Any
    sql: Any
    table: Any
    note: Any
    retrieved: Any
    details: Any
    session: Session


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


class SaveOutputs(NamedTuple):
    history: list[Message]
    status: Any


# -- rendering (pure) ------------------------------------------------------------------------


def user(text: str) -> Message:
    return {"role": "user", "content": text}


def assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def preview(text: str, limit: int = QUESTION_PREVIEW_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _cell(value: Any) -> Any:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return f"{value[:CELL_CHARS]}… ({len(value):,} characters)"
    return value


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A message cut to `limit` characters (errors may quote user data)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def result_table(columns: list[str], rows: list[Any], limit: int) -> Table:
    """The first `limit` rows for gr.Dataframe."""
    if not columns:
        return EMPTY_TABLE
    return {"headers": list(columns), "data": [[_cell(v) for v in row] for row in rows[:limit]]}


def row_count(count: int, truncated: bool) -> str:
    rows = f"{count:,}{'+' if truncated else ''} row{'s' if count != 1 or truncated else ''}"
    return f"**{rows}**"


def result_note(count: int, truncated: bool, limit: int) -> str:
    if count == 0:
        return "The query returned no rows."
    shown = min(count, limit)
    cap = " (stopped at the row cap, execution.max_rows)" if truncated else ""
    if shown == count and not truncated:
        return f"{row_count(count, truncated)}."
    return f"Showing the first {shown:,} of {row_count(count, truncated)}{cap}."


def retrieved_table(answer: Answer) -> Table:
    if not answer.retrieved:
        return EMPTY_TABLE
    return {
        "headers": ["#", "score", "database", "question", "sql"],
        "data": [[rank, f"{r.score:.3f}", r.db, r.question, r.sql] for rank, r in enumerate(answer.retrieved, 1)],
    }


def details(answer: Answer) -> str:
    steps = " · ".join(f"{name} {ms:,.0f} ms" for name, ms in answer.timings_ms.items() if name != "total")
    total = answer.timings_ms.get("total", 0.0)
    rag = f"k={answer.k}" if answer.k else "RAG off"
    return f"Answered by **{answer.generator}** ({rag}) · {steps} · **total {total:,.0f} ms**"


def sql_block(sql: str) -> str:
    """SQL for the chat, cut at SQL_SHOWN_CHARS (the editor below holds all of it)."""
    shown = sql if len(sql) <= SQL_SHOWN_CHARS else f"{sql[:SQL_SHOWN_CHARS]}\n-- … ({len(sql):,} characters)"
    return f"```sql\n{shown}\n```"


def answer_message(answer: Answer) -> str:
    if answer.error:
        title = ERROR_TITLES.get(answer.error_kind or "", "Error")
        text = f"⚠️ **{title}:** {shorten(answer.error)}"
        if answer.sql and answer.error_kind == "abstain":
            text += f"\n\nThe closest example's SQL (not run):\n{sql_block(answer.sql)}\nIf it is right, run it; else write the right SQL below, run it and save it as an example."
        elif answer.sql:
            text += f"\n\n{sql_block(answer.sql)}\nEdit the SQL below and run it again."
        return text
    text = f"{sql_block(answer.sql or '')}\n{row_count(len(answer.rows), answer.truncated)} · answered by `{answer.generator}`"
    if answer.retrieved:
        top = answer.retrieved[0]
        text += f" · closest example {top.score:.2f}"
    return text


def db_status(service: UIService, db: DatabaseRef) -> str:
    count = service.example_count(db)
    return f"**Database:** {db.summary} · {count} stored example{'s' if count != 1 else ''}"


def clamp_k(k: Any, default: int) -> int:
    """The slider's k; an API caller may send anything."""
    try:
        return min(50, max(0, int(k)))
    except (TypeError, ValueError):
        return default


def problem(exc: Exception) -> str:
    if isinstance(exc, CodeRagError):
        return f"⚠️ {shorten(str(exc))}"
    log.exception("unexpected error in a UI handler", exc_info=exc)
    return INTERNAL_ERROR


# -- handlers (plain functions) ------------------------------------------------------------


def on_ask(
    service: UIService, question: str | None, history: list[Message] | None, use_rag: bool, k: float, session: Session
) -> Iterator[AskOutputs]:
    """Ask a question: a progress message first (with the SQL as the LLM streams it), then the answer (SQL, table, examples, timings)."""
    history = list(history or [])
    question = question or ""
    if question.strip():
        history.append(user(preview(question)))
    try:
        checked = Question.parse(question, service.settings.max_question_chars)
    except ConfigError as exc:
        history.append(assistant(problem(exc)))
        yield AskOutputs(history, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, session)
        return
    k = clamp_k(k, service.settings.retrieval.k)
    steps = f"Retrieving {k} example{'s' if k != 1 else ''}, then generating" if use_rag and k else "Generating"
    progress = f"⏳ {steps} SQL with `{service.chain.generator.name}`…"
    history.append(assistant(progress))
    yield AskOutputs(history, "", SKIP, SKIP, SKIP, SKIP, SKIP, session)
    try:
        answer, shown_at = None, 0.0
        for item in service.stream(checked, session.db, use_rag=use_rag, k=k):
            if isinstance(item, Answer):
                answer = item
            elif time.monotonic() - shown_at >= STREAM_INTERVAL_S:  # the LLM's answer so far, ≤ 10 updates/s
                shown_at = time.monotonic()
                history = [*history[:-1], assistant(f"{progress}\n\n```sql\n{item}\n```")]
                yield AskOutputs(history, "", SKIP, SKIP, SKIP, SKIP, SKIP, session)
    except Exception as exc:  # the UI boundary: every failure becomes a chat message
        history = [*history[:-1], assistant(problem(exc))]
        yield AskOutputs(history, "", SKIP, EMPTY_TABLE, "", EMPTY_TABLE, "", replace(session, question=checked.text))
        return
    assert answer is not None
    history = [*history[:-1], assistant(answer_message(answer))]  # a new list: the progress step was already yielded
    limit = service.settings.ui.preview_rows
    yield AskOutputs(
        history,
        "",
        answer.sql or "",
        result_table(answer.columns, answer.rows, limit) if not answer.error else EMPTY_TABLE,
        result_note(len(answer.rows), answer.truncated, limit) if answer.sql and not answer.error else "",
        retrieved_table(answer),
        details(answer),
        replace(session, question=checked.text),
    )


def on_run_sql(service: UIService, sql: str | None, history: list[Message] | None, session: Session) -> RunOutputs:
    """Re-run the SQL in the editor (validated read-only, executed in the sandbox)."""
    history = list(history or [])
    try:
        result: QueryResult = service.run_sql(sql or "", session.db)
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return RunOutputs(history, EMPTY_TABLE, "")
    limit = service.settings.ui.preview_rows
    history.append(assistant(f"Ran the edited SQL on `{session.db.label}`:\n{sql_block((sql or '').strip())}\n{row_count(len(result.rows), result.truncated)}"))
    return RunOutputs(history, result_table(result.columns, result.rows, limit), result_note(len(result.rows), result.truncated, limit))


def on_save_example(service: UIService, sql: str | None, history: list[Message] | None, session: Session) -> SaveOutputs:
    """Store the last question with the SQL in the editor as an example for this database."""
    history = list(history or [])
    try:
        if not session.question:
            raise ConfigError("ask a question first: an example is the last question plus the SQL in the editor")
        example, added = service.save_example(session.question, sql or "", session.db)
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return SaveOutputs(history, SKIP)
    if added:
        text = f"✅ Saved as an example for `{session.db.label}`: “{preview(example.question, 120)}”. Asking it again retrieves it."
    else:
        text = f"This question and SQL are already stored for `{session.db.label}`."
    history.append(assistant(text))
    return SaveOutputs(history, db_status(service, session.db))


def _switch(service: UIService, history: list[Message] | None, session: Session, load: Callable[[], DatabaseRef]) -> DbOutputs:
    history = list(history or [])
    try:
        db = load()
    except Exception as exc:
        history.append(assistant(problem(exc)))
        return DbOutputs(history, session, SKIP, SKIP, SKIP)
    history.append(assistant(f"Now answering questions about {db.summary}."))
    picker = SKIP if db.kind in ("demo", "file") else None
    return DbOutputs(history, Session(db=db), db_status(service, db), db.schema, picker)


def on_pick_database(service: UIService, name: str | None, history: list[Message] | None, session: Session) -> DbOutputs:
    """A demo database (or the --db file) from the radio buttons."""
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


# -- the app ---------------------------------------------------------------------------------

INTRO = """# coderag
Ask questions about a SQLite database in plain English. Each answer shows the SQL (edit it and run
it again), the result, the stored examples that retrieval found, and where the time went.
"""


def build_app(service: UIService) -> gr.Blocks:
    """The Blocks app over one shared service; per-user state lives in gr.State."""
    settings = service.settings
    start = service.default_db
    db_names = service.demo_names() + ([start.label] if start.kind == "file" else [])
    lane = {"concurrency_id": "coderag", "concurrency_limit": settings.ui.concurrency_limit}
    # Questions have their own lane, so running SQL or switching databases never waits behind a
    # model; it is as wide as the OpenAI-compatible server takes (a hung call holds one place, for
    # at most openai.timeout_s). llama.cpp answers one at a time behind its own bounded wait.
    remote = service.chain.generator.name.startswith("openai:")
    ask_lane = {"concurrency_id": "ask", "concurrency_limit": settings.openai.concurrency if remote else settings.ui.concurrency_limit}

    with gr.Blocks(title="coderag", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        session = gr.State(Session(db=start))
        gr.Markdown(INTRO)
        if service.notice:
            gr.Markdown(f"ℹ️ {service.notice}", elem_id="notice")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                with gr.Tabs():
                    with gr.Tab("Demo"):
                        picker = gr.Radio(db_names, value=start.label, label="Database", elem_id="db-picker")
                    with gr.Tab("Upload"):
                        upload = gr.File(
                            label=f"SQLite file (up to {settings.ui.max_upload_mb} MB; opened read-only)",
                            file_types=[".sqlite", ".sqlite3", ".db"],
                            type="filepath",
                            elem_id="upload",
                        )
                    with gr.Tab("Paste schema"):
                        script = gr.Textbox(
                            label="CREATE TABLE statements (INSERTs optional)",
                            lines=8,
                            max_lines=20,
                            placeholder="CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, joined DATE);",
                            elem_id="schema-input",
                        )
                        use_script = gr.Button("Use this schema", elem_id="use-schema")
                status = gr.Markdown(db_status(service, start), elem_id="db-status")
                with gr.Accordion("Schema", open=True):
                    schema = gr.Code(start.schema, language="sql", interactive=False, max_lines=18, show_label=False, elem_id="schema")
                use_rag = gr.Checkbox(True, label="Use retrieved examples (RAG)", elem_id="use-rag")
                k = gr.Slider(1, 10, value=max(1, settings.retrieval.k), step=1, label="k: examples to retrieve", elem_id="k")
            with gr.Column(scale=2):
                chat = gr.Chatbot(
                    label="Chat",
                    height=340,
                    elem_id="chat",
                    placeholder="Pick a database, then ask, e.g. “How many books are in the catalog?”",
                    feedback_options=None,
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a question about the database…", show_label=False, scale=5, elem_id="question", autofocus=True
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                sql = gr.Code("", language="sql", interactive=True, lines=4, label="SQL (editable)", elem_id="sql")
                with gr.Row():
                    run = gr.Button("Run edited SQL", elem_id="run-sql")
                    save = gr.Button("Save as example", elem_id="save-example")
                note = gr.Markdown("", elem_id="result-note")
                table = gr.Dataframe(EMPTY_TABLE, label="Result", interactive=False, max_height=360, elem_id="result")
                with gr.Accordion("Retrieved examples (similarity scores)", open=False, elem_id="retrieved"):
                    retrieved = gr.Dataframe(
                        EMPTY_TABLE,
                        interactive=False,
                        wrap=True,
                        show_label=False,
                        column_widths=["5%", "8%", "12%", "35%", "40%"],
                        elem_id="retrieved-table",
                    )
                timings = gr.Markdown("", elem_id="details")

        def ask_question(question: str, history: list, use_rag: bool, k: float, session: Session) -> Iterator[AskOutputs]:
            yield from on_ask(service, question, history, use_rag, k, session)

        def run_sql(sql: str, history: list, session: Session) -> RunOutputs:
            return on_run_sql(service, sql, history, session)

        def save_example(sql: str, history: list, session: Session) -> SaveOutputs:
            return on_save_example(service, sql, history, session)

        def pick_database(name: str, history: list, session: Session) -> DbOutputs:
            return on_pick_database(service, name, history, session)

        def upload_database(path: str | None, history: list, session: Session) -> DbOutputs:
            return on_upload(service, path, history, session)

        def paste_schema(script: str, history: list, session: Session) -> DbOutputs:
            return on_paste_schema(service, script, history, session)

        gr.on(
            [ask.click, question.submit],
            ask_question,
            [question, chat, use_rag, k, session],
            [chat, question, sql, table, note, retrieved, timings, session],
            api_name="ask",
            show_progress="minimal",
            **ask_lane,
        )
        run.click(run_sql, [sql, chat, session], [chat, table, note], api_name="run_sql", **lane)
        save.click(save_example, [sql, chat, session], [chat, status], api_name="save_example", **lane)
        db_outputs = [chat, session, status, schema, picker]
        picker.input(pick_database, [picker, chat, session], db_outputs, api_name="pick_database", **lane)
        upload.upload(upload_database, [upload, chat, session], db_outputs, api_name="upload_database", **lane)
        use_script.click(paste_schema, [script, chat, session], db_outputs, api_name="paste_schema", **lane)

    demo.queue(max_size=settings.ui.max_queue, default_concurrency_limit=settings.ui.concurrency_limit)
    return demo


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(ui: UISettings, host: str, *, share: bool, insecure: bool) -> tuple[str, str] | None:
    """The login to require. Half a login or a blank one refuses to start; so does listening beyond
    this machine (another interface, or a public share link) without a login, unless `insecure`."""
    login = ui.login()
    if login is None and not insecure and (share or not is_loopback(host)):
        where = "a public share link" if share else f"{host}"
        raise ConfigError(
            f"refusing to serve on {where} without a login",
            hint="set CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD, or pass --insecure to serve it open anyway",
        )
    return login


def launch(
    demo: gr.Blocks,
    service: UIService,
    *,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    insecure: bool = False,
) -> str:
    """Start the server (loopback and no share link unless asked; see `check_exposure`); returns the local URL."""
    ui = service.settings.ui
    auth = check_exposure(ui, host or ui.host, share=share, insecure=insecure)
    try:
        _, local_url, _ = demo.launch(
            server_name=host or ui.host,
            server_port=port or ui.port,
            share=share,
            auth=auth,
            max_file_size=f"{ui.max_upload_mb}mb",
            max_threads=max(8, ui.concurrency_limit * 4),
            prevent_thread_lock=not block,
            quiet=quiet,
            show_error=False,
            enable_monitoring=False,
            ssr_mode=False,
            mcp_server=False,
        )
    except OSError as exc:
        raise ConfigError(f"cannot start the UI server on {host or ui.host}:{port or ui.port}: {str(exc).splitlines()[0]}") from None
    return local_url
