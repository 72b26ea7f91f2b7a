"""How an answer shows in the Gradio app: the answer card's Markdown, its tables, the chat's
messages, the chart updates. Pure functions of an Answer (or a result), no state.

One question is one answer card, in this order: the question, the result (first rows, the total
count, a CSV download), a chart when the result's shape suits one (ui.charts), the SQL (editable,
run again), the examples it came from and how close they were, and the timings. The conversation
below the card keeps every turn; an error or a notice is a message of its own there, never part
of an earlier answer.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from typing import Any

import gradio as gr

from rag.abstain import same_question
from rag.answer import Answer
from rag.databases import DatabaseRef
from rag.display import shown
from rag.errors import CodeRagError
from ui.charts import Chart, choose_chart
from ui.service import SESSION_SAVE, UIService

log = logging.getLogger(__name__)

Message = dict[str, str]
Table = dict[str, list]
SKIP: dict[str, Any] = gr.skip()
EMPTY_TABLE: Table = {"headers": [""], "data": []}
QUESTION_PREVIEW_CHARS = 300
CELL_CHARS = 500  # longer values are cut in the table (the row count, the CSV and the SQL stay exact)
MESSAGE_CHARS = 1_000  # longer error messages are cut in the chat
SQL_SHOWN_CHARS = 5_000
WARN = "⚠️"  # errors start with it (Debian's fonts have the sign; ✅ or ⏳ would be empty boxes)
INTERNAL_ERROR = f"{WARN} Something went wrong on the server (details are in its log). Try again or pick another database."
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
    if same or value is not None and value >= CLOSE_CONFIDENCE:
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
            lines.append(
                "Type the SQL that answers it in the editor and press **Teach this**: it runs, and is saved as this database's example."
            )
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
        parts.append(
            "values "
            + ", ".join(
                f"`{preview(v['table'] + '.' + v['column'], 60)} = {preview(str(v['value']), 60)}` ({v['how']})" for v in link["values"][:6]
            )
        )
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


def db_status(service: UIService, db: DatabaseRef) -> str:
    count = service.example_count(db)
    return f"**Database:** {db.summary} · {count} stored example{'s' if count != 1 else ''}"


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
    shown = gr.update(
        visible=True,
        value=frame,
        x=chart.x,
        y=chart.y,
        x_title=chart.x,
        y_title=chart.y,
        sort=list(frame[chart.x]) if chart.kind == "bar" else None,
        x_label_angle=-40 if crowded else 0,
    )
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
