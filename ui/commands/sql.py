"""`coderag sql`: one read-only query on a database, printed as a table or JSON."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape

from rag.options import DB_HELP, AllowPrivilegedRoleOption, JsonOption, TimeoutOption, settings_from_flags
from ui.commands.output import err, print_json, print_rows


def run_sql(
    sql: Annotated[str, typer.Argument(help="One read-only SQL query.")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)],
    timeout_s: TimeoutOption = None,
    max_rows: Annotated[int | None, typer.Option("--max-rows", min=1, help="Row cap (default 1,000).")] = None,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run one read-only query on a database (writes, ATTACH, PRAGMA writes, COPY, SET and functions
    that reach outside the database are refused).

    Example: coderag sql --db bookshop "SELECT count(*) FROM books"
    """
    from rag.databases import resolve_db
    from rag.sqltools import validate_user_sql

    settings = settings_from_flags(
        timeout_s=timeout_s, execution={"max_rows": max_rows, "allow_privileged_role": allow_privileged_role or None}
    )
    ref = resolve_db(db, settings.home, allow_privileged_role=settings.execution.allow_privileged_role)
    with ref.open(settings) as database:  # connecting has its own limit (a server's connect timeout)
        notice = database.privilege_notice
        started = time.monotonic()  # one time limit covers parsing, running and fetching
        statement = validate_user_sql(sql, max_chars=settings.execution.max_sql_chars, dialect=database.dialect)
        result = database.execute(statement, started=started)
    notice = " ".join(n for n in (notice, result.notice) if n)
    if notice:
        err.print(f"[yellow]note:[/] {escape(notice)}", highlight=False, soft_wrap=True)
    if as_json:
        print_json({**result.to_dict(), **({"notice": notice} if notice else {})})
    else:
        print_rows(result.columns, [list(r) for r in result.rows], result.truncated)
