"""The Examples tab: list, search, edit, delete and add the current database's examples, in the
same store as `coderag db teach / show`; each handler a plain function like ui.handlers'."""

from __future__ import annotations

from typing import Any, NamedTuple

from rag.errors import ConfigError
from ui.render import EMPTY_TABLE, SKIP, WARN, db_status, problem, quoted
from ui.service import ExampleRow, UIService
from ui.session import Session

WHO_FILTERS = ["all", "person", "synthesized"]


class ExampleOutputs(NamedTuple):
    title: Any
    table: Any
    ids: list[str] | dict[str, Any]  # the listed examples' ids, or SKIP (left as they are)
    status: Any = SKIP
    selected: Any = SKIP
    question: Any = SKIP
    sql: Any = SKIP
    db_status: Any = SKIP


def _matches(row: ExampleRow, query: str, who: str) -> bool:
    if who == "person" and row.origin == "synth" or who == "synthesized" and row.origin != "synth":
        return False
    query = query.strip().lower()
    return not query or query in row.question.lower() or query in row.sql.lower()


def on_list_examples(
    service: UIService, session: Session, query: str | None = "", who: str | None = "all", status: Any = SKIP
) -> ExampleOutputs:
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


def _after_change(
    service: UIService, session: Session, query: str | None, who: str | None, text: str, selected: Any, question: Any, sql: Any
) -> ExampleOutputs:
    listed = on_list_examples(service, session, query, who)
    return listed._replace(status=text, selected=selected, question=question, sql=sql, db_status=db_status(service, session.db))


def on_update_example(
    service: UIService,
    session: Session,
    selected: str | None,
    question: str | None,
    sql: str | None,
    query: str | None = "",
    who: str | None = "all",
) -> ExampleOutputs:
    """Save the edited example (its SQL is validated and run read-only first)."""
    try:
        if not selected:
            raise ConfigError("pick an example in the list first (or add this as a new one)")
        stored = service.update_example(session.db, selected, question or "", sql or "")
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    return _after_change(
        service, session, query, who, f"✓ Saved the edited example “{quoted(stored.question, 120)}”.", stored.id, SKIP, SKIP
    )


def on_delete_example(
    service: UIService, session: Session, selected: str | None, query: str | None = "", who: str | None = "all"
) -> ExampleOutputs:
    try:
        if not selected:
            raise ConfigError("pick an example in the list first")
        old = service.delete_example(session.db, selected)
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    return _after_change(service, session, query, who, f"Deleted “{quoted(old.question, 120)}”.", None, "", "")


def on_add_example(
    service: UIService, session: Session, question: str | None, sql: str | None, query: str | None = "", who: str | None = "all"
) -> ExampleOutputs:
    """A new example written by a person (validated and run read-only first, like `coderag db teach`)."""
    try:
        service.check_editable()
        example, added = service.save_example(question or "", sql or "", session.db, origin="person")
    except Exception as exc:
        return ExampleOutputs(SKIP, SKIP, SKIP, problem(exc))
    text = f"✓ Added “{quoted(example.question, 120)}”." if added else "This question and SQL are already stored."
    return _after_change(service, session, query, who, text, example.id, SKIP, SKIP)
