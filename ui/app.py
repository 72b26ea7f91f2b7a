"""The Gradio app: `build_app(service) -> gr.Blocks`, with every event handler a plain function
of (service, inputs...) that returns the outputs, so it is testable without a browser.

One question is one answer card, in this order: the question, the result (first rows, the total
count, a CSV download), a chart when the result's shape suits one (ui.charts), the SQL (editable,
run again), the examples it came from and how close they were, and the timings. The conversation
below the card keeps every turn; an error or a notice is a message of its own there, never part
of an earlier answer. The Examples tab lists, searches, edits, deletes and adds the current
database's examples in the same store as `coderag db teach / show`.

A handler never raises: bad input (an empty question, a huge paste, a non-SQLite upload, a
schema that does not load, SQL that writes) becomes a marked message, and the session and every
other session keep working.
"""

from __future__ import annotations

import csv
import html
import logging
import re
import shlex
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
from starlette.middleware import Middleware

from rag.abstain import same_question
from rag.chain import Answer, Question
from rag.databases import DatabaseRef
from rag.display import shown
from rag.errors import CodeRagError, ConfigError
from rag.generators import NO_LLM_NOTICE
from rag.sandbox import QueryResult
from rag.settings import UISettings
from ui.charts import Chart, choose_chart
from ui.guard import LOOPBACK_NAMES, ChangeGuard, LoginThrottle, RequestGuard, new_token
from ui.service import SESSION_SAVE, ExampleRow, UIService, is_loopback

log = logging.getLogger(__name__)

__all__ = ["build_app", "check_exposure", "is_loopback", "launch"]

Message = dict[str, str]
Table = dict[str, list]
SKIP: dict[str, Any] = gr.skip()
EMPTY_TABLE: Table = {"headers": [""], "data": []}
QUESTION_PREVIEW_CHARS = 300
CELL_CHARS = 500  # longer values are cut in the table (the row count, the CSV and the SQL stay exact)
MESSAGE_CHARS = 1_000  # longer error messages are cut in the chat
SQL_SHOWN_CHARS = 5_000
STREAM_INTERVAL_S = 0.1  # at most 10 chat updates a second while the LLM streams
KEEP_DOWNLOADS = 200  # CSV files kept in the private directory (older ones are removed)
WARN = "⚠️"  # errors start with it (Debian's fonts have the sign; ✅ or ⏳ would be empty boxes)
WORKING = "…"
INTERNAL_ERROR = f"{WARN} Something went wrong on the server (details are in its log). Try again or pick another database."
UI_NO_LLM_NOTICE = (
    "No language model is set up, so answers come from retrieval alone: each answer reuses the SQL of the "
    "closest stored example, and follow-up questions need a model. Set one up under *Language model* (left), "
    "on this machine or with a login."
)
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
WHO_FILTERS = ["all", "person", "synthesized"]
LLM_KINDS = {"GGUF file": "gguf", "OpenAI-compatible URL": "openai"}


FOLLOW_UP_TOKENS = 500  # earlier turns in an LLM's prompt, at most about this many tokens
FOLLOW_UP_TURNS = 5
CHARS_PER_TOKEN = 4  # a rough count; the schema and the examples have their own budgets


@dataclass(frozen=True)
class Turn:
    """An answered question, as a follow-up question's prompt sees it."""

    question: str
    sql: str
    result: str  # a one-line summary: the row count, the columns and the first row


@dataclass(frozen=True)
class Session:
    """Per-browser-session state: the database picked, the last question asked (what "save as
    example" stores together with the SQL in the editor) and the answered turns (for follow-ups)."""

    db: DatabaseRef
    question: str | None = None
    turns: tuple[Turn, ...] = ()
    saved: tuple[tuple[str, str, str], ...] = ()  # (database key, question, SQL) saved for this session only


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


class ExampleOutputs(NamedTuple):
    title: Any
    table: Any
    ids: list[str]
    status: Any = SKIP
    selected: Any = SKIP
    question: Any = SKIP
    sql: Any = SKIP
    db_status: Any = SKIP


# -- rendering (pure) ------------------------------------------------------------------------


def user(text: str) -> Message:
    return {"role": "user", "content": text}


def assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def preview(text: str, limit: int = QUESTION_PREVIEW_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


_MARKUP = re.compile(r"([\\`*_\[\]<>!&|~$])")


def quoted(text: str, limit: int = QUESTION_PREVIEW_CHARS) -> str:
    """A question (anyone's: stored examples are shared) as inline Markdown text: on one line, its
    HTML and Markdown syntax escaped, so it shows as typed and never loads an image or adds a link."""
    return _MARKUP.sub(r"\\\1", " ".join(preview(text, limit).split()))


def code_span(text: str) -> str:
    """`text` as inline code (a backtick inside it would end the span early)."""
    return "`" + " ".join(text.replace("`", "'").split()) + "`"


def _cell(value: Any) -> Any:
    """A value as the result table shows it: floats rounded for display (rag.display.shown; the
    CSV keeps the exact value), still a number so the column sorts as numbers; long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return float(shown(value))
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


def retrieved_table(answer: Answer, name: Callable[[str], str] = str) -> Table:
    """The examples an answer came from, by closeness (cosine similarity), their database by its name."""
    if not answer.retrieved:
        return EMPTY_TABLE
    return {
        "headers": ["#", "closeness", "database", "question", "sql"],
        "data": [[rank, f"{r.score:.2f}", name(r.db), r.question, r.sql] for rank, r in enumerate(answer.retrieved, 1)],
    }


def details(answer: Answer) -> str:
    steps = " · ".join(f"{name} {ms:,.0f} ms" for name, ms in answer.timings_ms.items() if name != "total")
    total = answer.timings_ms.get("total", 0.0)
    rag = f"k={answer.k}" if answer.k else "RAG off"
    return f"Answered by **{answer.generator}** ({rag}) · {steps} · **total {total:,.0f} ms**"


def sql_block(sql: str) -> str:
    """SQL for the chat, cut at SQL_SHOWN_CHARS (the editor holds all of it)."""
    shown = sql if len(sql) <= SQL_SHOWN_CHARS else f"{sql[:SQL_SHOWN_CHARS]}\n-- … ({len(sql):,} characters)"
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", shown)), default=0))  # longer than any run inside
    return f"{fence}sql\n{shown}\n{fence}"


CLOSE_CONFIDENCE = 0.8  # at or above: "answered from a close example"


def confidence_words(answer: Answer) -> str:
    """What a knn answer's confidence (rag.abstain) means, in words: where its SQL came from and
    whether to check it; "" for an LLM's answer (it has no confidence)."""
    if answer.generator != "knn":
        return ""
    value = answer.confidence
    number = "" if value is None else f" (confidence {value:.2f})"
    if answer.composed:
        return "composed from what the question names" + number
    if answer.adapted:
        return "adapted from a stored example, check the filter" + number
    same = bool(answer.retrieved) and same_question(answer.question, answer.retrieved[0].question)
    if value is None and not same:
        return "reused the SQL of the closest stored example"
    if same or value >= CLOSE_CONFIDENCE:
        return "answered from a close example" + number
    return f"**unsure: check the SQL and the result**{number}"


def can_teach(answer: Answer) -> bool:
    """knn could not answer: no stored example matched well, or this database has none."""
    return answer.generator == "knn" and answer.error_kind in ("abstain", "no_sql")


def answer_message(answer: Answer) -> str:
    """The turn's message in the conversation."""
    if answer.error:
        title = ERROR_TITLES.get(answer.error_kind or "", "Error")
        text = f"{WARN} **{title}:** {shorten(answer.error)}"
        if answer.sql and answer.error_kind == "abstain":
            text += f"\n\nThe closest example's SQL (not run):\n{sql_block(answer.sql)}\nIf it is right, run it; else write the right SQL in the editor and press *Teach this*."
        elif answer.sql:
            text += f"\n\n{sql_block(answer.sql)}\nEdit the SQL in the answer card and run it again."
        return text
    text = f"{sql_block(answer.sql or '')}\n{row_count(len(answer.rows), answer.truncated)} · answered by `{answer.generator}`"
    if answer.retrieved:
        text += f" · closest example {answer.retrieved[0].score:.2f}"
    if answer.generator == "knn":
        text += f" · {confidence_words(answer)}"
    return text


def card_head(answer: Answer) -> str:
    """The answer card's first lines: the question, then the result's size and where the SQL came from."""
    lines = [f"### {quoted(answer.question, 200)}"]
    if answer.error_kind == "abstain":
        lines.append(
            "**No stored example matches this question well.** The nearest ones:\n\n"
            + "\n".join(f"- “{quoted(r.question, 150)}” (closeness {r.score:.2f})" for r in answer.retrieved[:3])
        )
        lines.append(
            "The closest one's SQL is in the editor below, not run. If it is right, run it; otherwise type the "
            "right SQL and press **Teach this**: it runs, and is saved as this database's example."
        )
    elif answer.error:
        title = ERROR_TITLES.get(answer.error_kind or "", "Error")
        lines.append(f"{WARN} **{title}:** {shorten(answer.error, 400)}")
        if can_teach(answer):
            lines.append("Type the SQL that answers it in the editor and press **Teach this**: it runs, and is saved as this database's example.")
    else:
        source = {
            "knn": confidence_words(answer),
            SESSION_SAVE: "the SQL you saved for this question in this session",
        }.get(answer.generator, f"SQL written by `{answer.generator}`")
        parts = [row_count(len(answer.rows), answer.truncated), source]
        if answer.retrieved:
            parts.append(f"closest example {answer.retrieved[0].score:.2f}")
        lines.append(" · ".join(parts))
    if answer.adapted and not answer.error:
        lines.append(adapted_line(answer.adapted))
    if answer.link:
        lines.append(link_line(answer.link))
    if answer.notice:
        lines.append(f"*Note: {answer.notice}*")
    return "\n\n".join(lines)


def link_line(link: dict[str, Any]) -> str:
    """What the question was linked to (rag.linking): the tables it names, the stored values it
    matched (as stored), numbers with units, and the words nothing accounts for. Escaped: names and
    values come from the user's database."""
    parts = []
    if link.get("named_tables"):
        parts.append("tables " + ", ".join(f"`{preview(t, 60)}`" for t in link["named_tables"][:8]))
    if link.get("values"):
        parts.append("values " + ", ".join(f"`{preview(v['table'] + '.' + v['column'], 60)} = {preview(str(v['value']), 60)}` ({v['how']})" for v in link["values"][:6]))
    if link.get("units"):
        parts.append("numbers " + ", ".join(f"`{preview(u['conversion'], 80)}`" for u in link["units"][:3]))
    line = "Linked: " + ("; ".join(parts) if parts else "nothing in the question names this database")
    if link.get("unlinked"):
        line += " · not understood: " + ", ".join(f"“{html.escape(preview(w, 40))}”" for w in link["unlinked"][:6])
    return line


def adapted_line(adapted: dict[str, Any]) -> str:
    """Which stored example the answer's SQL was adapted from, and how (rag.adapt's edits)."""
    edits = "; ".join(code_span(preview(e, 120)) for e in adapted.get("edits", [])[:6])
    return f"Adapted from example {code_span(preview(str(adapted.get('from_id', '')), 80))}: {edits}"


def result_summary(columns: list[str], rows: list[list[Any]], truncated: bool, limit: int = 200) -> str:
    """One line about a result for a later prompt: how many rows, which columns, the first row."""
    count = f"{len(rows):,}{'+' if truncated else ''} row{'s' if len(rows) != 1 or truncated else ''}"
    if not rows:
        return f"{count}; columns {', '.join(columns)}"
    first = ", ".join(str(_cell(v)) for v in rows[0])
    return shorten(f"{count}; columns {', '.join(columns)}; first row: {first}", limit)


def conversation_context(turns: tuple[Turn, ...], budget_tokens: int = FOLLOW_UP_TOKENS) -> str:
    """The earlier turns for an LLM's prompt (its "Earlier in this conversation" section), newest
    kept first when the budget (about `budget_tokens` tokens) runs out; empty without turns."""
    blocks: list[str] = []
    used = 0
    for turn in reversed(turns):
        sql = " ".join(turn.sql.split())
        block = f"-- Q: {' '.join(turn.question.split())}\n-- SQL: {sql}\n-- Result: {turn.result}"
        if used + len(block) > budget_tokens * CHARS_PER_TOKEN:
            break
        blocks.insert(0, block)
        used += len(block)
    if not blocks:
        return ""
    return "(the new question may refer to these)\n" + "\n".join(blocks)


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
        return f"{WARN} {shorten(str(exc))}"
    log.exception("unexpected error in a UI handler", exc_info=exc)
    return INTERNAL_ERROR


def chart_updates(columns: list[str], rows: list[list[Any]]) -> tuple[Any, Any, Any]:
    """Updates for the bar, line and scatter plots: the chosen one shown with the data, the others hidden."""
    chart = choose_chart(columns, rows)
    hidden = gr.update(visible=False, value=None)
    if chart is None:
        return hidden, hidden, hidden
    frame = chart_frame(chart, columns, rows)
    crowded = chart.kind == "bar" and (len(frame) > 8 or frame[chart.x].str.len().max() > 12)
    shown = gr.update(visible=True, value=frame, x=chart.x, y=chart.y, x_title=chart.x, y_title=chart.y,
                      sort=list(frame[chart.x]) if chart.kind == "bar" else None, x_label_angle=-40 if crowded else 0)
    return tuple(shown if kind == chart.kind else hidden for kind in ("bar", "line", "scatter"))  # type: ignore[return-value]


def chart_frame(chart: Chart, columns: list[str], rows: list[list[Any]]) -> Any:
    import pandas as pd

    xi, yi = columns.index(chart.x), columns.index(chart.y)
    frame = pd.DataFrame([(r[xi], r[yi]) for r in rows if r[xi] is not None and r[yi] is not None], columns=[chart.x, chart.y])
    if chart.kind == "line":
        if frame[chart.x].dtype == object:
            frame[chart.x] = pd.to_datetime(frame[chart.x], errors="coerce", format="mixed")
        frame = frame.dropna().sort_values(chart.x)
    if chart.kind == "bar":
        frame[chart.x] = frame[chart.x].astype(str)
    return frame


def write_csv(directory: Path, columns: list[str], rows: list[list[Any]]) -> str | None:
    """The whole result (every fetched row, values uncut) as result.csv in a fresh folder; None without columns."""
    if not columns:
        return None
    root = directory / "results"
    root.mkdir(exist_ok=True)
    _prune(root)
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    path = folder / "result.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([["" if v is None else f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in row] for row in rows])
    return str(path)


_prune_lock = threading.Lock()


def _prune(root: Path) -> None:
    """Remove the oldest CSV folders beyond KEEP_DOWNLOADS, never one younger than a minute (a
    request may still be handing it to Gradio); one request prunes at a time."""
    if not _prune_lock.acquire(blocking=False):
        return
    try:
        folders = []
        for folder in root.iterdir():
            try:
                folders.append((folder.stat().st_mtime, folder))
            except OSError:
                continue
        if len(folders) <= KEEP_DOWNLOADS:
            return
        cutoff = time.time() - 60
        for mtime, folder in sorted(folders)[: len(folders) - KEEP_DOWNLOADS]:
            if mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        _prune_lock.release()


def download_update(path: str | None) -> Any:
    return gr.update(value=path, visible=path is not None)


# -- handlers (plain functions) ------------------------------------------------------------


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
        items = [service.session_answer(checked.text, mine, session.db)] if mine else service.stream(checked, session.db, use_rag=use_rag, k=k, context=context)
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
        yield AskOutputs(history, "", SKIP, EMPTY_TABLE, "", EMPTY_TABLE, "", replace(session, question=checked.text),
                         head, download_update(None), hidden, hidden, hidden, gr.update(visible=False))
        return
    assert answer is not None
    history = [*history[:-1], assistant(answer_message(answer))]  # a new list: the progress step was already yielded
    limit = service.settings.ui.preview_rows
    ok = bool(answer.sql) and not answer.error
    bar, line, scatter = chart_updates(answer.columns, answer.rows) if ok else (hidden, hidden, hidden)
    turns = session.turns
    if ok:
        turns = (*turns, Turn(checked.text, answer.sql or "", result_summary(answer.columns, answer.rows, answer.truncated)))[-FOLLOW_UP_TURNS:]
    yield AskOutputs(
        history,
        "",
        answer.sql or "",
        result_table(answer.columns, answer.rows, limit) if ok else EMPTY_TABLE,
        result_note(len(answer.rows), answer.truncated, limit) if ok else "",
        retrieved_table(answer, service.display_name),
        details(answer),
        replace(session, question=checked.text, turns=turns),
        card_head(answer) + (f"\n\n*A follow-up: the model saw {context.count('-- Q: ')} earlier question(s) of this conversation.*" if context else ""),
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
    history.append(assistant(f"Ran the edited SQL on `{session.db.label}`:\n{sql_block((sql or '').strip())}\n{row_count(len(result.rows), result.truncated)}"))
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


def on_save_example(service: UIService, sql: str | None, history: list[Message] | None, session: Session, user: str | None = None) -> SaveOutputs:
    """Store the last question with the SQL in the editor as an example for this database: in the
    shared store (attributed to `user`) behind a login or with `ui.allow_shared_save`, else for
    this browser session only, with the `coderag db teach` command that would share it."""
    history = list(history or [])
    try:
        if not session.question:
            raise ConfigError("ask a question first: an example is the last question plus the SQL in the editor")
        if not service.shared_saves:
            stored = service.check_example(session.question, sql or "", session.db)
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
        example, added = service.save_example(session.question, sql or "", session.db, author=user)
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


def on_teach(service: UIService, sql: str | None, history: list[Message] | None, session: Session, user: str | None = None) -> tuple[RunOutputs, SaveOutputs]:
    """"Teach this": run the SQL in the editor, show its result, and save it with the question."""
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


# -- the examples tab ------------------------------------------------------------------------


def _matches(row: ExampleRow, query: str, who: str) -> bool:
    if who == "person" and row.origin == "synth" or who == "synthesized" and row.origin != "synth":
        return False
    query = query.strip().lower()
    return not query or query in row.question.lower() or query in row.sql.lower()


def on_list_examples(service: UIService, session: Session, query: str | None = "", who: str | None = "all", status: Any = SKIP) -> ExampleOutputs:
    """The current database's examples that match the search, with who wrote them."""
    try:
        rows = service.examples_of(session.db)
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, [], problem(exc))
    shown = [r for r in rows if _matches(r, query or "", who or "all")]
    counts = {"person": sum(r.origin != "synth" for r in rows), "synthesized": sum(r.origin == "synth" for r in rows)}
    title = (
        f"**{len(rows)} example{'s' if len(rows) != 1 else ''} of `{session.db.label}`** "
        f"({counts['person']} by a person, {counts['synthesized']} synthesized)"
        + (f" · {len(shown)} match the search" if len(shown) != len(rows) else "")
        + ". The same store as `coderag db teach` and `coderag db show`."
    )
    table = {"headers": ["who", "question", "sql"], "data": [[r.who, r.question, r.sql] for r in shown]} if shown else EMPTY_TABLE
    return ExampleOutputs(title, table, [r.id for r in shown], status)


def on_select_example(service: UIService, session: Session, ids: list[str], index: int | None) -> ExampleOutputs:
    """A row picked in the list goes into the editor below it."""
    if index is None or not 0 <= index < len(ids or []):
        return ExampleOutputs(SKIP, SKIP, ids or [], SKIP)
    row = next((r for r in service.examples_of(session.db) if r.id == ids[index]), None)
    if row is None:
        return ExampleOutputs(SKIP, SKIP, ids, f"{WARN} that example is no longer stored; the list was out of date", None)
    note = " It is built in (read-only): *Add as a new example* stores your version." if row.built_in else ""
    return ExampleOutputs(SKIP, SKIP, ids, f"Editing: “{quoted(row.question, 120)}” ({row.who}).{note}", row.id, row.question, row.sql)


def _after_change(service: UIService, session: Session, query: str | None, who: str | None, text: str, selected: Any, question: Any, sql: Any) -> ExampleOutputs:
    listed = on_list_examples(service, session, query, who)
    return listed._replace(status=text, selected=selected, question=question, sql=sql, db_status=db_status(service, session.db))


def on_update_example(service: UIService, session: Session, selected: str | None, question: str | None, sql: str | None, query: str | None = "", who: str | None = "all") -> ExampleOutputs:
    """Save the edited example (its SQL is validated and run read-only first)."""
    try:
        if not selected:
            raise ConfigError("pick an example in the list first (or add this as a new one)")
        stored = service.update_example(session.db, selected, question or "", sql or "")
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    return _after_change(service, session, query, who, f"✓ Saved the edited example “{quoted(stored.question, 120)}”.", stored.id, SKIP, SKIP)


def on_delete_example(service: UIService, session: Session, selected: str | None, query: str | None = "", who: str | None = "all") -> ExampleOutputs:
    try:
        if not selected:
            raise ConfigError("pick an example in the list first")
        old = service.delete_example(session.db, selected)
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    return _after_change(service, session, query, who, f"Deleted “{quoted(old.question, 120)}”.", None, "", "")


def on_add_example(service: UIService, session: Session, question: str | None, sql: str | None, query: str | None = "", who: str | None = "all") -> ExampleOutputs:
    """A new example written by a person (validated and run read-only first, like `coderag db teach`)."""
    try:
        service.check_editable()
        example, added = service.save_example(question or "", sql or "", session.db, origin="person")
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    text = f"✓ Added “{quoted(example.question, 120)}”." if added else "This question and SQL are already stored."
    return _after_change(service, session, query, who, text, example.id, SKIP, SKIP)


# -- the app ---------------------------------------------------------------------------------

INTRO = "## coderag · ask a SQLite database in plain English"
CSS = """
#answer-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; }
#answer-head h3 { margin: 0 0 4px 0; }
#notice { font-size: 0.9em; }
"""


def build_app(service: UIService) -> gr.Blocks:
    """The Blocks app over one shared service; per-user state lives in gr.State."""
    settings = service.settings
    start = service.default_db
    db_names = service.database_names() + ([start.label] if start.kind == "file" else [])
    lane = {"concurrency_id": "coderag", "concurrency_limit": settings.ui.concurrency_limit}
    # SQL a person typed (and saves, which run it first) has a lane of its own: however many
    # heavy /run_sql calls wait, switching databases and the examples list are answered at once.
    sql_lane = {"concurrency_id": "sql", "concurrency_limit": settings.ui.concurrency_limit}
    llm_lane = {"concurrency_id": "llm", "concurrency_limit": 1}  # loading a model: one at a time
    # Questions have their own lane, so running SQL or switching databases never waits behind a
    # model; it is as wide as the OpenAI-compatible server takes (a hung call holds one place, for
    # at most openai.timeout_s). llama.cpp answers one at a time behind its own bounded wait.
    remote = service.chain.generator.name.startswith("openai:")
    ask_lane = {"concurrency_id": "ask", "concurrency_limit": settings.openai.concurrency if remote else settings.ui.concurrency_limit}
    notice = ui_notice(service)
    hidden_plot = {"visible": False, "height": 260, "show_label": False}

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
                                show_label=False, scale=5, elem_id="question", autofocus=True, lines=1, max_lines=4,
                            )
                            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                        with gr.Column(elem_id="answer-card"):
                            head = gr.Markdown("Pick a database, then ask a question: the answer appears here.", elem_id="answer-head")
                            table = gr.Dataframe(EMPTY_TABLE, show_label=False, interactive=False, max_height=260, elem_id="result")
                            with gr.Row(equal_height=True):
                                note = gr.Markdown("", elem_id="result-note")
                                download = gr.DownloadButton("Download CSV", visible=False, size="sm", scale=0, min_width=140, elem_id="download-csv")
                            bar = gr.BarPlot(elem_id="chart-bar", **hidden_plot)
                            line = gr.LinePlot(elem_id="chart-line", **hidden_plot)
                            scatter = gr.ScatterPlot(elem_id="chart-scatter", **hidden_plot)
                            sql = gr.Code("", language="sql", interactive=True, lines=3, max_lines=12, label="SQL (editable)", elem_id="sql")
                            with gr.Row():
                                run = gr.Button("Run edited SQL", size="sm", elem_id="run-sql")
                                save = gr.Button("Save as example", size="sm", elem_id="save-example")
                                teach = gr.Button("Teach this", variant="primary", size="sm", visible=False, elem_id="teach-this")
                            action = gr.Markdown("", elem_id="action-status")
                            with gr.Accordion("Which examples it came from (closeness: cosine similarity)", open=False, elem_id="retrieved"):
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
                            ex_search = gr.Textbox(placeholder="Search questions and SQL…", show_label=False, scale=4, elem_id="examples-search")
                            ex_who = gr.Radio(WHO_FILTERS, value="all", show_label=False, scale=3, elem_id="examples-who")
                        ex_table = gr.Dataframe(
                            EMPTY_TABLE, interactive=False, wrap=True, show_label=False, max_height=320,
                            column_widths=["14%", "40%", "46%"], elem_id="examples-table",
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

        def list_examples(session: Session, query: str, who: str) -> ExampleOutputs:
            return on_list_examples(service, session, query, who)[:3]

        def select_example(session: Session, ids: list[str], event: gr.SelectData) -> ExampleOutputs:
            index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            return on_select_example(service, session, ids, index)[2:7]

        def update_example(session: Session, selected: str | None, question: str, sql: str, query: str, who: str, request: gr.Request) -> ExampleOutputs:
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
        teach.click(teach_this, [sql, chat, session], [chat, table, note, download, *plots, status, action, session], api_name="teach", **sql_lane)
        db_outputs = [chat, session, status, schema, picker]
        list_inputs = [session, ex_search, ex_who]
        list_outputs = [ex_title, ex_table, ex_ids]
        for event, handler, inputs, name, its_lane in (
            (picker.input, pick_database, [picker, chat, session], "pick_database", lane),
            (upload.upload, upload_database, [upload, chat, session], "upload_database", lane),
            (use_script.click, paste_schema, [script, chat, session], "paste_schema", sql_lane),  # it runs the script
        ):
            event(handler, inputs, db_outputs, api_name=name, **its_lane).then(list_examples, list_inputs, list_outputs, api_name=False, **lane)
        gr.on([examples_tab.select, ex_search.submit, ex_who.input], list_examples, list_inputs, list_outputs, api_name="list_examples", **lane)
        ex_table.select(select_example, [session, ex_ids], [ex_ids, ex_status, ex_selected, ex_question, ex_sql], api_name=False, **lane)
        change_outputs = [ex_title, ex_table, ex_ids, ex_status, ex_selected, ex_question, ex_sql, status]
        ex_update.click(update_example, [session, ex_selected, ex_question, ex_sql, ex_search, ex_who], change_outputs, api_name="update_example", **sql_lane)
        ex_delete.click(delete_example, [session, ex_selected, ex_search, ex_who], change_outputs, api_name="delete_example", **lane)
        ex_add.click(add_example, [session, ex_question, ex_sql, ex_search, ex_who], change_outputs, api_name="add_example", **sql_lane)

    demo.queue(max_size=settings.ui.max_queue, default_concurrency_limit=settings.ui.concurrency_limit)
    return demo


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


def saves_are_shared(ui: UISettings, login: tuple[str, str] | None) -> bool:
    """Whether "save as example" writes the shared store: behind a login (attributed to the user) or
    with `ui.allow_shared_save`; otherwise a save lasts for its browser session."""
    return login is not None or ui.allow_shared_save


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
    """Start the server (loopback and no share link unless asked; see `check_exposure`); returns the local URL.

    Every request passes ui.guard's RequestGuard first (Host names, body caps, the login before
    the body, login throttling). Without a login, changing the model or the shared examples needs
    the token: its link is printed (to stderr) unless `quiet`."""
    ui = service.settings.ui
    bind, port = host or ui.host, port or ui.port
    auth = check_exposure(ui, bind, share=share, insecure=insecure)
    service.shared_saves = saves_are_shared(ui, auth)
    token = None if auth is not None else ui.token.get_secret_value() if ui.token is not None else new_token()
    service.guard = ChangeGuard(login=auth is not None, token=token)
    checked_hosts = is_loopback(bind) and not share or bool(ui.allowed_hosts)
    guard = Middleware(
        RequestGuard,
        allowed_hosts=(*LOOPBACK_NAMES, *ui.allowed_hosts) if checked_hosts else None,
        port=port,
        max_body_bytes=ui.max_request_mb * 2**20,
        max_upload_bytes=(ui.max_upload_mb + 1) * 2**20,  # the file and its multipart framing
        login=auth is not None,
        throttle=LoginThrottle(free=ui.login_tries),
        token=token,
    )
    try:
        _, local_url, _ = demo.launch(
            server_name=bind,
            server_port=port,
            share=share,
            auth=auth,
            max_file_size=f"{ui.max_upload_mb}mb",
            max_threads=max(8, ui.concurrency_limit * 4),
            prevent_thread_lock=True,
            quiet=quiet,
            show_error=False,
            enable_monitoring=False,
            ssr_mode=False,
            css=CSS,
            mcp_server=False,
            app_kwargs={"middleware": [guard]},
        )
    except OSError as exc:
        raise ConfigError(f"cannot start the UI server on {bind}:{port}: {str(exc).splitlines()[0]}") from None
    if token is not None and not quiet:
        print(f"To change the language model or the shared examples, open this link once (keep it private): {local_url}?token={token}",
              file=sys.stderr, flush=True)
    if block:
        demo.block_thread()
    return local_url
