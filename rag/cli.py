"""The `coderag` command line: the root command, assembling every package's commands (the one
module allowed to import every layer; see the import-linter contract in pyproject.toml).
Every CodeRagError becomes one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

import embedder.cli as embedder_cli
import eval.cli as eval_cli
import synth.cli as synth_cli
import synth.db as db_cli
import ui.cli as ui_cli
from rag.display import shown
from rag.errors import CodeRagError
from rag.options import (
    DB_HELP,
    AllowPrivilegedRoleOption,
    CorpusOption,
    DbOption,
    EmbedderOption,
    GeneratorOption,
    GrammarOption,
    JsonOption,
    KOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    OutDirOption,
    SplitOption,
    TemplateOption,
    TimeoutOption,
    settings_from_flags,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Local retrieval-augmented text-to-SQL.")
index_app = typer.Typer(no_args_is_help=True, help="Build and inspect FAISS indexes.")
models_app = typer.Typer(no_args_is_help=True, help="Check the configured LLM; download LLM weights (online only).")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

PREVIEW_ROWS = 20
ABSTAINED = 8  # exit code: knn found no stored example that matches well enough
CELL_CHARS = 200  # longer values are cut in printed tables (--json prints them whole)
MESSAGE_CHARS = 500  # longer error messages are cut: they may quote user data
SQL_SHOWN_CHARS = 5_000


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """`text` on one line, cut to `limit` characters.

    >>> one_line("near 'x':\\n  syntax error", 14)
    "near 'x': synt… (22 characters)"
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat):,} characters)"


def print_error(message: object, label: str = "error") -> None:
    """One line on stderr; user data in it is never read as markup or highlighted (rich's highlighter
    is quadratic in the line length)."""
    err.print(Text.assemble((f"{label}:", "red"), " ", one_line(str(message))), soft_wrap=True, highlight=False)


def print_json(payload: Any) -> None:
    """JSON on stdout as plain text (no highlighting: results may be megabytes)."""
    sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")


def _cell(value: Any) -> Text:
    return Text(one_line(shown(value), CELL_CHARS))


@app.command()
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

    Exit codes: 0 answered, 7 no usable SQL, 8 knn abstained (no stored example matches well)."""
    from rag.chain import Question, TextToSQL
    from rag.databases import resolve_db

    settings = settings_from_flags(
        generator=generator, llm_model_path=llm_model_path, grammar=grammar, openai_base_url=openai_base_url, embedder=embedder,
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
            table.add_row(str(rank), f"{r.score:.3f}", _cell(r.id), _cell(r.question), _cell(r.sql))
        out.print(table)
    if answer.sql:
        title = f"SQL ({answer.generator})" if answer.error_kind != "abstain" else "the closest example's SQL (not run)"
        shown = answer.sql if len(answer.sql) <= SQL_SHOWN_CHARS else f"{answer.sql[:SQL_SHOWN_CHARS]}\n-- … ({len(answer.sql):,} characters)"
        out.print(Panel(Syntax(shown, "sql", word_wrap=True), title=Text(title)))
    if answer.columns:
        _print_rows(answer.columns, answer.rows, answer.truncated)
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{timings}[/]")


def _print_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> None:
    table = Table()
    for column in columns:
        table.add_column(_cell(column))
    for row in rows[:PREVIEW_ROWS]:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    more = "+" if truncated else ""
    shown = min(len(rows), PREVIEW_ROWS)
    out.print(f"[dim]{shown} of {len(rows)}{more} rows shown[/]")


@app.command("sql")
def run_sql(
    sql: Annotated[str, typer.Argument(help="One read-only SQL query.")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)],
    timeout_s: TimeoutOption = None,
    max_rows: Annotated[Optional[int], typer.Option("--max-rows", min=1, help="Row cap (default 1,000).")] = None,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run one read-only query on a database (writes, ATTACH, PRAGMA writes, COPY, SET and functions
    that reach outside the database are refused)."""
    from rag.databases import resolve_db
    from rag.sqltools import validate_user_sql

    settings = settings_from_flags(timeout_s=timeout_s, execution={"max_rows": max_rows, "allow_privileged_role": allow_privileged_role or None})
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
        _print_rows(result.columns, [list(r) for r in result.rows], result.truncated)


@app.command("mcp")
def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="HTTP: the address to bind (loopback unless a login is set).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP: the port.")] = 8765,
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    embedder: EmbedderOption = None,
) -> None:
    """Serve coderag to MCP clients (assistants, editors, agents): list_databases, describe_database, ask, run_sql, teach_example.

    stdio by default (the client starts this command); --http serves http://HOST:PORT/mcp, behind the
    UI's login when CODERAG_UI__USERNAME / CODERAG_UI__PASSWORD are set."""
    from rag.mcpserver import serve

    settings = settings_from_flags(generator=generator, llm_model_path=llm_model_path, openai_base_url=openai_base_url, embedder=embedder)
    ready = (lambda url: err.print(f"MCP server on {url}", highlight=False)) if http else None
    serve(settings, http=http, host=host, port=port, ready=ready)


@index_app.command("build")
def index_build(
    corpus: CorpusOption = "default",
    split: SplitOption = "train",
    embedder: EmbedderOption = None,
    template: TemplateOption = None,
    out_dir: OutDirOption = None,
) -> None:
    """Embed a corpus into a FAISS index (index.faiss, docs.jsonl, manifest.json)."""
    from rag.corpus import load_corpus
    from rag.documents import render
    from rag.wiring import build_index

    settings = settings_from_flags(embedder=embedder, template=template)
    template_name = settings.index.template
    examples = load_corpus(corpus, None if split == "all" else split, home=settings.home)
    render(examples[0], template_name)  # an unknown template fails before the model loads
    index, target = build_index(settings, examples, corpus, directory=out_dir)
    m = index.manifest
    out.print(
        f"indexed {m['count']} documents ({m['embedded']} embedded, {m['dimension']}-d, template {template_name}, "
        f"embedder {m['embedder']}) in {m['build_seconds']:.1f} s → {target}"
    )


@index_app.command("info")
def index_info(directory: Annotated[Path, typer.Argument(help="An index directory.")]) -> None:
    """Print an index's manifest."""
    from rag.index import VectorIndex

    index = VectorIndex.load(directory)
    out.print_json(json.dumps(index.manifest))


@models_app.command("check")
def models_check(
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    openai_model: Annotated[Optional[str], typer.Option("--openai-model", help="The server's model name, e.g. qwen2.5-coder:7b for Ollama.")] = None,
) -> None:
    """Send one tiny question to the configured LLM: does it answer, how fast, does it follow the SQL format (one line)."""
    from rag.llmcheck import check_model

    settings = settings_from_flags(
        generator=generator, llm_model_path=llm_model_path, openai_base_url=openai_base_url, openai={"model": openai_model}
    )
    out.print(Text(check_model(settings).line), soft_wrap=True, highlight=False)


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="Model to download.")] = "mistral-7b-instruct-v0.2") -> None:
    """Download the default GGUF (Mistral-7B-Instruct-v0.2 Q4_K_M) with huggingface_hub."""
    from rag.errors import ConfigError
    from rag.generators import pull_model

    settings = settings_from_flags()
    if name != "mistral-7b-instruct-v0.2":
        raise ConfigError(f"unknown model '{name}' (known: mistral-7b-instruct-v0.2; set llm.hub_repo/hub_file for others)")
    path = pull_model(settings)
    out.print(f"downloaded {path}\nset llm.model_path to it, or: export CODERAG_LLM__MODEL_PATH={path}")


def _add_package_commands() -> None:
    """Every package's commands under the root (each CLI module imports its heavy parts inside its commands)."""
    app.add_typer(eval_cli.app, name="eval")
    app.add_typer(synth_cli.app, name="synth")
    app.add_typer(db_cli.app, name="db")
    embedder_cli.register(app)
    ui_cli.register(app)


_add_package_commands()


def main() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except CodeRagError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except OSError as exc:  # a path the system refuses (permissions, not a directory, disk full)
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        sys.exit(1)
    except Exception as exc:  # usage errors: typer >= 0.29 raises its own copy of click's, older typer click's
        import click

        if isinstance(exc, (typer.exceptions.TyperException, click.ClickException)):
            print_error(_usage_message(exc))
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: Exception) -> str:
    """A usage error as one line, with where to find help."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    option = getattr(exc, "option_name", None)
    if option and not re.fullmatch(r"--?[A-Za-z][\w-]*", option):  # text that only looks like an option, e.g. SQL starting with --
        message += "; an argument that starts with '-' goes after '--', e.g. coderag sql --db DB -- '-- note ...'"
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "coderag"
    return f"{message} (see `{path} --help`)"


if __name__ == "__main__":
    main()
