"""`coderag db list | show | remove | teach`: the registered databases, what each store holds, and
examples a person teaches (each checked as rag.api.check_example checks it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rag.options import JsonOption, settings_from_flags
from synth.dbcommands.common import err, out, refresh_index, registration_of


def list_databases(as_json: JsonOption = False) -> None:
    """Registered databases and their example stores.

    Example: coderag db list --json"""
    import json

    from rag.registry import ExampleStore, Registry

    settings = settings_from_flags()
    store = ExampleStore(settings.home)
    rows: list[dict[str, Any]] = []  # JSON objects, printed as they are with --json
    for registration in Registry(settings.home).all():
        origins = Counter(e.origin for e in store.load(registration.name))
        rows.append(
            {
                "name": registration.name,
                "path": registration.path,
                "tables": registration.tables,
                "examples": dict(origins),
                "changed": registration.changes(),
            }
        )
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("no registered databases; add one with: coderag db add PATH --name NAME")
        return
    table = Table("name", "tables", "synthesized", "taught", "saved", "path", "status")
    for row in rows:
        counts = row["examples"]
        table.add_row(
            row["name"],
            str(row["tables"]),
            str(counts.get("synth", 0)),
            str(counts.get("person", 0)),
            str(counts.get("saved", 0)),
            escape(row["path"]),
            escape(row["changed"] or "ok"),
        )
    out.print(table)


def show(
    name: Annotated[str, typer.Argument(help="A registered database name.")], limit: Annotated[int, typer.Option("--limit", min=0)] = 10
) -> None:
    """A registered database: its file, schema and a few stored examples.

    Example: coderag db show shop --limit 5"""
    from rag.databases import describe, resolve_db
    from rag.registry import ExampleStore

    settings = settings_from_flags()
    registration = registration_of(settings.home, name)
    ref = describe(resolve_db(name, settings.home))
    examples = ExampleStore(settings.home).load(name)
    out.print(f"[bold]{escape(name)}[/] → {escape(registration.path)} ({ref.tables} tables, added {registration.added})")
    if ref.note:
        err.print(f"[yellow]note:[/] {escape(ref.note)}")
    out.print(escape(ref.schema))
    counts = Counter(e.origin for e in examples)
    out.print(f"{len(examples)} stored examples: " + ", ".join(f"{n} {origin}" for origin, n in sorted(counts.items())))
    table = Table("origin", "question", "sql")
    for example in sorted(examples, key=lambda e: e.origin != "person")[:limit]:
        table.add_row(example.origin, escape(example.question), escape(example.sql))
    if limit and examples:
        out.print(table)


def remove(name: Annotated[str, typer.Argument(help="A registered database name.")]) -> None:
    """Forget a database: its registration and synthesized examples go; taught and saved examples stay.

    Example: coderag db remove shop"""
    from rag.registry import ExampleStore, Registry

    settings = settings_from_flags()
    registration_of(settings.home, name)
    store = ExampleStore(settings.home)
    dropped = store.remove(name, origins={"synth"})
    Registry(settings.home).remove(name)
    kept = len(store.load(name))
    refresh_index(settings, show_progress=False)
    out.print(
        f"removed '{name}' ({dropped} synthesized examples dropped"
        + (f"; {kept} taught or saved examples kept for when you add it again)" if kept else ")"),
        highlight=False,
    )


def teach(
    name: Annotated[str, typer.Argument(help="A registered or demo database name, or a SQLite file path.")],
    question: Annotated[str | None, typer.Option("--question", help="The question, in English.")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="The SQL that answers it (run read-only first).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="JSONL or CSV with question,sql columns.")] = None,
) -> None:
    """Teach examples: each SQL runs read-only first; bad rows are listed with the reason and skipped.

    Example: coderag db teach shop --question "Which customers live in Lyon?" --sql "SELECT name FROM customers WHERE city = 'Lyon'"
    """
    from rag.api import check_example
    from rag.databases import resolve_db
    from rag.errors import CodeRagError, ConfigError, DataError
    from rag.io import read_csv, read_jsonl
    from rag.registry import ExampleStore, StoredExample

    settings = settings_from_flags()
    if (question is None) != (sql is None) or (file is None) == (question is None):
        raise ConfigError("teach takes --question and --sql together, or --file")
    ref = resolve_db(name, settings.home)
    if file is not None:
        if not file.is_file():
            raise DataError(f"examples file not found: {file}")
        rows = list(read_jsonl(file)) if file.suffix.lower() in (".jsonl", ".json") else read_csv(file)
    else:
        rows = [{"question": question, "sql": sql}]
    good: list[StoredExample] = []
    bad: list[tuple[int, str]] = []
    with ref.open(settings) as database:
        for number, row in enumerate(rows, 1):
            try:
                good.append(check_example(str(row.get("question") or ""), str(row.get("sql") or ""), ref, settings, database=database))
            except CodeRagError as exc:
                bad.append((number, str(exc)))
    added = ExampleStore(settings.home).add(ref.key, good) if good else []
    for number, reason in bad:
        err.print(f"[yellow]skipped[/] row {number}: {escape(reason)}", highlight=False, soft_wrap=True)
    out.print(
        f"taught {len(added)} example(s) to '{ref.key}'" + (f"; {len(good) - len(added)} already known" if len(good) > len(added) else ""),
        highlight=False,
    )
    if not good:
        raise DataError(f"no example was taught ({len(bad)} row(s) skipped)")
    refresh_index(settings, show_progress=False)
