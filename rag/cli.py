"""The `coderag` command line. Every CodeRagError becomes one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from rag.errors import CodeRagError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Local retrieval-augmented text-to-SQL.")
index_app = typer.Typer(no_args_is_help=True, help="Build and inspect FAISS indexes.")
models_app = typer.Typer(no_args_is_help=True, help="Download LLM weights (online only).")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

PREVIEW_ROWS = 20


def _settings(**overrides: Any):
    from rag.settings import load_settings

    return load_settings(**overrides)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in English."),
    db: Optional[str] = typer.Option(None, "--db", help="Demo database name (bookshop, clinic) or a SQLite file path."),
    k: Optional[int] = typer.Option(None, "--k", min=0, max=50, help="Examples to retrieve (default 3)."),
    no_rag: bool = typer.Option(False, "--no-rag", help="The baseline: no retrieved examples (k=0)."),
    generator: Optional[str] = typer.Option(None, "--generator", help="auto | llm | openai | knn"),
    llm_model_path: Optional[Path] = typer.Option(None, "--llm-model-path", help="GGUF file for llama.cpp."),
    openai_base_url: Optional[str] = typer.Option(None, "--openai-base-url", help="OpenAI-compatible server URL."),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder: bundled, a model directory, or a hub id."),
    grammar: bool = typer.Option(False, "--grammar", help="Constrain llama.cpp output to one SELECT (GBNF)."),
    no_execute: bool = typer.Option(False, "--no-execute", help="Only generate the SQL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer a question about a SQLite database: retrieved examples, SQL, result."""
    from rag.chain import TextToSQL, check_question
    from rag.databases import resolve_db
    from rag.encoders import encoder_from_settings as encoder_from_settings
    from rag.generators import make_generator
    from rag.index import get_index

    settings = _settings(
        generator=generator,
        llm={"model_path": llm_model_path, "grammar": grammar or None},
        openai={"base_url": openai_base_url},
        embedder={"model": embedder},
    )
    check_question(question, settings.max_question_chars)
    ref = resolve_db(db or settings.default_db, settings.home)
    ref.open(settings).close()  # a bad database fails before any model loads
    gen, notice = make_generator(settings.generator, settings)
    if notice and not as_json:
        err.print(f"[yellow]note:[/] {notice}")
    encoder = encoder_from_settings(settings)
    index = get_index(settings, encoder, "default", show_progress=not as_json)
    with TextToSQL(settings, index, encoder, gen) as service:
        answer = service.ask_database(question, ref, k=0 if no_rag else k, execute=not no_execute)
    if as_json:
        payload = answer.to_json()
        payload["notice"] = notice
        out.print_json(json.dumps(payload, default=str))
    else:
        _print_answer(answer)
    if answer.error:
        err.print(f"[red]error:[/] {answer.error}")
        raise typer.Exit(7)


def _print_answer(answer: Any) -> None:
    if answer.retrieved:
        table = Table(title=f"Retrieved examples (k={answer.k})", show_lines=False)
        for column in ("#", "score", "id", "question", "sql"):
            table.add_column(column, overflow="fold")
        for rank, r in enumerate(answer.retrieved, 1):
            table.add_row(str(rank), f"{r.score:.3f}", r.id, r.question, r.sql)
        out.print(table)
    if answer.sql:
        out.print(Panel(Syntax(answer.sql, "sql", word_wrap=True), title=f"SQL ({answer.generator})"))
    if answer.columns:
        _print_rows(answer.columns, answer.rows, answer.truncated)
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in answer.timings_ms.items())
    out.print(f"[dim]{timings}[/]")


def _print_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> None:
    table = Table(*columns)
    for row in rows[:PREVIEW_ROWS]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    out.print(table)
    more = "+" if truncated else ""
    shown = min(len(rows), PREVIEW_ROWS)
    out.print(f"[dim]{shown} of {len(rows)}{more} rows shown[/]")


@app.command("sql")
def run_sql(
    sql: str = typer.Argument(..., help="One read-only SQL query."),
    db: str = typer.Option(..., "--db", help="Demo database name or SQLite file path."),
    timeout_s: Optional[float] = typer.Option(None, "--timeout", help="Time limit in seconds (default 5)."),
    max_rows: Optional[int] = typer.Option(None, "--max-rows", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run one read-only query on a database (writes, ATTACH and PRAGMA writes are refused)."""
    from rag.databases import resolve_db
    from rag.sqltools import validate_user_sql

    settings = _settings(execution={"timeout_s": timeout_s, "max_rows": max_rows})
    ref = resolve_db(db, settings.home)
    with ref.open(settings) as database:
        statement = validate_user_sql(sql)
        result = database.execute(statement)
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    else:
        _print_rows(result.columns, [list(r) for r in result.rows], result.truncated)


@index_app.command("build")
def index_build(
    corpus: str = typer.Option("default", "--corpus", help="default | bundled | demo | gretel[:FILE] | spider:DIR | jsonl:FILE"),
    split: str = typer.Option("train", "--split", help="Corpus split to index (train, test, all)."),
    embedder: Optional[str] = typer.Option(None, "--embedder"),
    template: Optional[str] = typer.Option(None, "--template", help="Document template (see README)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Index directory (default: under CODERAG_HOME)."),
) -> None:
    """Embed a corpus into a FAISS index (index.faiss, docs.jsonl, manifest.json)."""
    from rag.corpus import load_corpus
    from rag.documents import render
    from rag.encoders import encoder_from_settings as encoder_from_settings
    from rag.index import VectorIndex, index_path

    settings = _settings(embedder={"model": embedder}, index={"template": template})
    template_name = settings.index.template
    examples = load_corpus(corpus, None if split == "all" else split, home=settings.home)
    render(examples[0], template_name)  # an unknown template fails before the model loads
    encoder = encoder_from_settings(settings)
    index = VectorIndex.build(examples, encoder, template_name, corpus=corpus, batch_size=settings.embedder.batch_size)
    target = out_dir or index_path(settings, corpus, encoder, template_name)
    index.save(target)
    m = index.manifest
    out.print(f"indexed {m['count']} documents ({m['dimension']}-d, template {template_name}, embedder {m['embedder']}) in {m['build_seconds']:.1f} s → {target}")


@index_app.command("info")
def index_info(directory: Path = typer.Argument(..., help="An index directory.")) -> None:
    """Print an index's manifest."""
    from rag.index import VectorIndex

    index = VectorIndex.load(directory)
    out.print_json(json.dumps(index.manifest))


@models_app.command("pull")
def models_pull(name: str = typer.Argument("mistral-7b-instruct-v0.2", help="Model to download.")) -> None:
    """Download the default GGUF (Mistral-7B-Instruct-v0.2 Q4_K_M) with huggingface_hub."""
    from rag.errors import ConfigError
    from rag.generators import pull_model

    settings = _settings()
    if name != "mistral-7b-instruct-v0.2":
        raise ConfigError(f"unknown model '{name}' (known: mistral-7b-instruct-v0.2; set llm.hub_repo/hub_file for others)")
    path = pull_model(settings)
    out.print(f"downloaded {path}\nset llm.model_path to it, or: export CODERAG_LLM__MODEL_PATH={path}")


def register_subcommands() -> None:
    """Sub-apps that live in other packages (they import rag, never the reverse at import time)."""
    import importlib

    for module, name in (("eval.cli", "eval"), ("synth.cli", "synth"), ("embedder.cli", "embedder"), ("ui.cli", "ui")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        mod.register(app) if hasattr(mod, "register") else app.add_typer(mod.app, name=name)


def main() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    register_subcommands()
    try:
        code = app(standalone_mode=False)
    except CodeRagError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
