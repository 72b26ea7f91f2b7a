"""`coderag ask`: a question about a database → the retrieved examples, the SQL and its result."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from rag.options import (
    AllowPrivilegedRoleOption,
    DbOption,
    EmbedderOption,
    GeneratorOption,
    GrammarOption,
    JsonOption,
    KOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    settings_from_flags,
)
from ui.commands.output import cell, err, out, print_error, print_json, print_rows

ABSTAINED = 8  # exit code: knn found no stored example that matches well enough
SQL_SHOWN_CHARS = 5_000


def ask(
    question: Annotated[str, typer.Argument(help="The question, in English.")],
    db: DbOption = None,
    k: KOption = None,
    no_rag: Annotated[bool, typer.Option("--no-rag", help="The baseline: no retrieved examples (k=0).")] = False,
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    embedder: EmbedderOption = None,
    grammar: GrammarOption = False,
    no_execute: Annotated[bool, typer.Option("--no-execute", help="Only generate the SQL.")] = False,
    force: Annotated[bool, typer.Option("--force", help="knn: run the closest example's SQL even when it is unsure.")] = False,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
    as_json: JsonOption = False,
) -> None:
    """Answer a question about a database (SQLite, or PostgreSQL, MySQL/MariaDB, DuckDB by URL): retrieved examples, SQL, result.

    Exit codes: 0 answered, 7 no usable SQL, 8 knn abstained (no stored example matches well).

    Example: coderag ask "Which 5 authors sold the most books in 2024?" --db bookshop"""
    from rag.answer import Question
    from rag.chain import TextToSQL
    from rag.databases import resolve_db

    settings = settings_from_flags(
        generator=generator,
        llm_model_path=llm_model_path,
        grammar=grammar,
        openai_base_url=openai_base_url,
        embedder=embedder,
        execution={"allow_privileged_role": allow_privileged_role or None},
    )
    checked = Question.parse(question, settings.max_question_chars)
    ref = resolve_db(db or settings.default_db, settings.home, allow_privileged_role=settings.execution.allow_privileged_role)
    with ref.open(settings) as database:  # a bad database fails before any model loads
        with TextToSQL.from_settings(settings, show_progress=not as_json) as service:
            if service.notice and not as_json:
                err.print(f"[yellow]note:[/] {escape(service.notice)}", highlight=False, soft_wrap=True)
            answer = service.ask(checked, database, db_key=ref.key, k=0 if no_rag else k, execute=not no_execute, force=force)
    notices = [n for n in (ref.note, service.notice, answer.notice) if n]
    if as_json:
        payload = answer.to_json()
        payload["notice"] = " ".join(notices) or None
        print_json(payload)
    else:
        for notice in (ref.note, answer.notice):
            if notice:
                err.print(f"[yellow]note:[/] {escape(notice)}", highlight=False, soft_wrap=True)
        _print_answer(answer)
    if answer.error:
        label = "abstained" if answer.error_kind == "abstain" else "error"
        print_error(answer.error, label)
        raise typer.Exit(ABSTAINED if answer.error_kind == "abstain" else 7)


def _print_answer(answer: Any) -> None:
    if answer.retrieved:
        table = Table(title=f"Retrieved examples (k={answer.k})", show_lines=False)
        for column in ("#", "score", "id", "question", "sql"):
            table.add_column(column, overflow="fold")
        for rank, r in enumerate(answer.retrieved, 1):
            table.add_row(str(rank), f"{r.score:.3f}", cell(r.id), cell(r.question), cell(r.sql))
        out.print(table)
    if answer.sql:
        title = f"SQL ({answer.generator})" if answer.error_kind != "abstain" else "the closest example's SQL (not run)"
        shown = (
            answer.sql if len(answer.sql) <= SQL_SHOWN_CHARS else f"{answer.sql[:SQL_SHOWN_CHARS]}\n-- … ({len(answer.sql):,} characters)"
        )
        out.print(Panel(Syntax(shown, "sql", word_wrap=True), title=Text(title)))
    if answer.columns:
        print_rows(answer.columns, answer.rows, answer.truncated)
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{timings}[/]")
