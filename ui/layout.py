"""The Blocks layout and its event wiring: `build_app(service) -> gr.Blocks`. Each event calls a
handler of ui.handlers or ui.examples_tab; the ones that change what every user shares run as
their request's sender (ui.guard)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import gradio as gr

from ui.examples_tab import (
    WHO_FILTERS,
    ExampleOutputs,
    on_add_example,
    on_delete_example,
    on_list_examples,
    on_select_example,
    on_update_example,
)
from ui.handlers import (
    LLM_KINDS,
    AskOutputs,
    DbOutputs,
    RunOutputs,
    SaveOutputs,
    on_ask,
    on_paste_schema,
    on_pick_database,
    on_run_sql,
    on_save_example,
    on_set_llm,
    on_teach,
    on_upload,
    ui_notice,
)
from ui.render import EMPTY_TABLE, db_status
from ui.service import UIService
from ui.session import Session

INTRO = "## coderag · ask a SQLite database in plain English"
CSS = """
#answer-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; }
#answer-head h3 { margin: 0 0 4px 0; }
#notice { font-size: 0.9em; }
"""


class Lane(TypedDict):
    """A Gradio concurrency group: the events that name one `concurrency_id` share its workers."""

    concurrency_id: str
    concurrency_limit: int


class PlotOptions(TypedDict):
    """How each chart starts: hidden until a result suits it (ui.render.chart_updates)."""

    visible: bool
    height: int
    show_label: bool


def build_app(service: UIService) -> gr.Blocks:
    """The Blocks app over one shared service; per-user state lives in gr.State."""
    settings = service.settings
    start = service.default_db
    db_names = service.database_names() + ([start.label] if start.kind == "file" else [])
    lane: Lane = {"concurrency_id": "coderag", "concurrency_limit": settings.ui.concurrency_limit}
    # SQL a person typed (and saves, which run it first) has a lane of its own: however many
    # heavy /run_sql calls wait, switching databases and the examples list are answered at once.
    sql_lane: Lane = {"concurrency_id": "sql", "concurrency_limit": settings.ui.concurrency_limit}
    llm_lane: Lane = {"concurrency_id": "llm", "concurrency_limit": 1}  # loading a model: one at a time
    # Questions have their own lane, so running SQL or switching databases never waits behind a
    # model; it is as wide as the OpenAI-compatible server takes (a hung call holds one place, for
    # at most openai.timeout_s). llama.cpp answers one at a time behind its own bounded wait.
    remote = service.chain.generator.name.startswith("openai:")
    ask_lane: Lane = {
        "concurrency_id": "ask",
        "concurrency_limit": settings.openai.concurrency if remote else settings.ui.concurrency_limit,
    }
    notice = ui_notice(service)
    hidden_plot: PlotOptions = {"visible": False, "height": 260, "show_label": False}

    with gr.Blocks(title="coderag", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        session = gr.State(Session(db=start))
        gr.Markdown(INTRO)
        notice_box = gr.Markdown(notice, visible=bool(notice), elem_id="notice")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                with gr.Tabs():
                    with gr.Tab("Databases"):
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
                with gr.Accordion("Language model", open=False, elem_id="llm-settings"):
                    llm_kind = gr.Radio(list(LLM_KINDS), value="GGUF file", show_label=False, elem_id="llm-kind")
                    llm_value = gr.Textbox(
                        placeholder="/path/to/model.gguf or http://127.0.0.1:8080/v1", show_label=False, elem_id="llm-value"
                    )
                    llm_apply = gr.Button("Use this model", size="sm", elem_id="llm-apply")
                    llm_status = gr.Markdown(
                        f"Now: `{service.chain.generator.name}`. Checked before use; only on loopback or behind a login.",
                        elem_id="llm-status",
                    )
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Ask", id="ask-tab"):
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask a question about the database, e.g. “How many books are in the catalog?”",
                                show_label=False,
                                scale=5,
                                elem_id="question",
                                autofocus=True,
                                lines=1,
                                max_lines=4,
                            )
                            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        with gr.Column(elem_id="answer-card"):
                            head = gr.Markdown("Pick a database, then ask a question: the answer appears here.", elem_id="answer-head")
                            table = gr.Dataframe(EMPTY_TABLE, show_label=False, interactive=False, max_height=260, elem_id="result")
                            with gr.Row(equal_height=True):
                                note = gr.Markdown("", elem_id="result-note")
                                download = gr.DownloadButton(
                                    "Download CSV", visible=False, size="sm", scale=0, min_width=140, elem_id="download-csv"
                                )
                            bar = gr.BarPlot(elem_id="chart-bar", **hidden_plot)
                            line = gr.LinePlot(elem_id="chart-line", **hidden_plot)
                            scatter = gr.ScatterPlot(elem_id="chart-scatter", **hidden_plot)
                            sql = gr.Code(
                                "", language="sql", interactive=True, lines=3, max_lines=12, label="SQL (editable)", elem_id="sql"
                            )
                            with gr.Row():
                                run = gr.Button("Run edited SQL", size="sm", elem_id="run-sql")
                                save = gr.Button("Save as example", size="sm", elem_id="save-example")
                                teach = gr.Button("Teach this", variant="primary", size="sm", visible=False, elem_id="teach-this")
                            action = gr.Markdown("", elem_id="action-status")
                            with gr.Accordion(
                                "Which examples it came from (closeness: cosine similarity)", open=False, elem_id="retrieved"
                            ):
                                retrieved = gr.Dataframe(
                                    EMPTY_TABLE,
                                    interactive=False,
                                    wrap=True,
                                    show_label=False,
                                    column_widths=["5%", "10%", "13%", "35%", "37%"],
                                    elem_id="retrieved-table",
                                )
                            timings = gr.Markdown("", elem_id="details")
                        chat = gr.Chatbot(
                            label="Conversation",
                            height=300,
                            elem_id="chat",
                            placeholder="Questions, answers and messages of this session",
                            feedback_options=None,
                            group_consecutive_messages=False,
                        )
                    with gr.Tab("Examples", id="examples-tab") as examples_tab:
                        ex_title = gr.Markdown("", elem_id="examples-title")
                        with gr.Row():
                            ex_search = gr.Textbox(
                                placeholder="Search questions and SQL…", show_label=False, scale=4, elem_id="examples-search"
                            )
                            ex_who = gr.Radio(WHO_FILTERS, value="all", show_label=False, scale=3, elem_id="examples-who")
                        ex_table = gr.Dataframe(
                            EMPTY_TABLE,
                            interactive=False,
                            wrap=True,
                            show_label=False,
                            max_height=320,
                            column_widths=["14%", "40%", "46%"],
                            elem_id="examples-table",
                        )
                        ex_ids = gr.State([])
                        ex_selected = gr.State(None)
                        gr.Markdown("Pick a row to edit or delete it, or write a new one. Every SQL is run read-only before it is stored.")
                        ex_question = gr.Textbox(label="Question", lines=1, elem_id="example-question")
                        ex_sql = gr.Code("", language="sql", interactive=True, lines=3, label="SQL", elem_id="example-sql")
                        with gr.Row():
                            ex_update = gr.Button("Save changes", variant="primary", size="sm", elem_id="example-update")
                            ex_add = gr.Button("Add as a new example", size="sm", elem_id="example-add")
                            ex_delete = gr.Button("Delete", variant="stop", size="sm", elem_id="example-delete")
                        ex_status = gr.Markdown("", elem_id="example-status")

        plots = [bar, line, scatter]

        def ask_question(question: str, history: list, use_rag: bool, k: float, session: Session) -> Iterator[AskOutputs]:
            yield from on_ask(service, question, history, use_rag, k, session)

        def run_sql(sql: str, history: list, session: Session) -> RunOutputs:
            return on_run_sql(service, sql, history, session)

        # Handlers that change what every user shares run as their request's sender (ui.guard):
        # the service refuses them without the login or the token.
        def save_example(sql: str, history: list, session: Session, request: gr.Request) -> SaveOutputs:
            with service.guard.serving(request):
                return on_save_example(service, sql, history, session, getattr(request, "username", None))

        def teach_this(sql: str, history: list, session: Session, request: gr.Request) -> tuple:
            with service.guard.serving(request):
                ran, saved = on_teach(service, sql, history, session, getattr(request, "username", None))
            return (saved.history, ran.table, ran.note, ran.download, *ran[4:7], saved.status, saved.action, saved.session)

        def pick_database(name: str, history: list, session: Session) -> DbOutputs:
            return on_pick_database(service, name, history, session)

        def upload_database(path: str | None, history: list, session: Session) -> DbOutputs:
            return on_upload(service, path, history, session)

        def paste_schema(script: str, history: list, session: Session) -> DbOutputs:
            return on_paste_schema(service, script, history, session)

        def list_examples(session: Session, query: str, who: str) -> tuple[Any, Any, list[str] | dict[str, Any]]:
            return on_list_examples(service, session, query, who)[:3]

        def select_example(session: Session, ids: list[str], event: gr.SelectData) -> tuple[list[str] | dict[str, Any], Any, Any, Any, Any]:
            index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            return on_select_example(service, session, ids, index)[2:7]

        def update_example(
            session: Session, selected: str | None, question: str, sql: str, query: str, who: str, request: gr.Request
        ) -> ExampleOutputs:
            with service.guard.serving(request):
                return on_update_example(service, session, selected, question, sql, query, who)

        def delete_example(session: Session, selected: str | None, query: str, who: str, request: gr.Request) -> ExampleOutputs:
            with service.guard.serving(request):
                return on_delete_example(service, session, selected, query, who)

        def add_example(session: Session, question: str, sql: str, query: str, who: str, request: gr.Request) -> ExampleOutputs:
            with service.guard.serving(request):
                return on_add_example(service, session, question, sql, query, who)

        def set_llm(kind: str, value: str, request: gr.Request) -> tuple[str, Any]:
            with service.guard.serving(request):
                return on_set_llm(service, kind, value)

        llm_apply.click(set_llm, [llm_kind, llm_value], [llm_status, notice_box], api_name="set_llm", **llm_lane)
        gr.on(
            [ask.click, question.submit],
            ask_question,
            [question, chat, use_rag, k, session],
            [chat, question, sql, table, note, retrieved, timings, session, head, download, *plots, teach, action],
            api_name="ask",
            show_progress="minimal",
            **ask_lane,
        )
        run.click(run_sql, [sql, chat, session], [chat, table, note, download, *plots, action], api_name="run_sql", **sql_lane)
        save.click(save_example, [sql, chat, session], [chat, status, action, session], api_name="save_example", **sql_lane)
        teach.click(
            teach_this, [sql, chat, session], [chat, table, note, download, *plots, status, action, session], api_name="teach", **sql_lane
        )
        db_outputs = [chat, session, status, schema, picker]
        list_inputs = [session, ex_search, ex_who]
        list_outputs = [ex_title, ex_table, ex_ids]
        for event, handler, inputs, name, its_lane in (
            (picker.input, pick_database, [picker, chat, session], "pick_database", lane),
            (upload.upload, upload_database, [upload, chat, session], "upload_database", lane),
            (use_script.click, paste_schema, [script, chat, session], "paste_schema", sql_lane),  # it runs the script
        ):
            event(handler, inputs, db_outputs, api_name=name, **its_lane).then(
                list_examples, list_inputs, list_outputs, api_name=False, **lane
            )
        gr.on(
            [examples_tab.select, ex_search.submit, ex_who.input],
            list_examples,
            list_inputs,
            list_outputs,
            api_name="list_examples",
            **lane,
        )
        # api_name=False (no API endpoint) works in every Gradio of pyproject's range; Gradio 6's stubs
        # type it `str | None` (its new spelling, api_visibility="private", is not in Gradio 5).
        ex_table.select(select_example, [session, ex_ids], [ex_ids, ex_status, ex_selected, ex_question, ex_sql], api_name=False, **lane)  # type: ignore[arg-type]
        change_outputs = [ex_title, ex_table, ex_ids, ex_status, ex_selected, ex_question, ex_sql, status]
        ex_update.click(
            update_example,
            [session, ex_selected, ex_question, ex_sql, ex_search, ex_who],
            change_outputs,
            api_name="update_example",
            **sql_lane,
        )
        ex_delete.click(delete_example, [session, ex_selected, ex_search, ex_who], change_outputs, api_name="delete_example", **lane)
        ex_add.click(add_example, [session, ex_question, ex_sql, ex_search, ex_who], change_outputs, api_name="add_example", **sql_lane)

    demo.queue(max_size=settings.ui.max_queue, default_concurrency_limit=settings.ui.concurrency_limit)
    return demo
