"""`coderag synth`: build (query, positive, negative) triplets; `coderag synth review FILE`: vet them.

coderag synth                                  # 40 curated rows (10 per category), offline
coderag synth --all --out triplets.csv         # every row, for training at scale
coderag synth --generator llm --llm-model-path model.gguf --tasks text2sql,code_summary
coderag synth review triplets.csv --target 10  # accept/reject row by row
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from rag.options import (
    EmbedderOption,
    LimitOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    settings_from_flags,
)

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Synthesise curated (query, positive, negative) triplets in four categories; `review` vets a file.\n\nExample: coderag synth --all --out triplets.csv",
)
out = Console()
err = Console(stderr=True)


@app.callback()
def synth(
    ctx: typer.Context,
    corpus: list[str] = typer.Option(
        ["bundled"], "--corpus", help="Corpus spec (bundled, default, gretel:FILE, spider:DIR, jsonl:FILE, csv:FILE); repeatable."
    ),
    from_dir: list[Path] = typer.Option(
        [], "--from-dir", help="Directory of source code (.py via ast, other languages split plainly); repeatable."
    ),
    split: str = typer.Option("train", "--split", help="Corpus split (train; the test split evaluates the embedder)."),
    tasks: list[str] = typer.Option([], "--tasks", help="Task or category names, comma-separated or repeated (see --list-tasks)."),
    per_category: int = typer.Option(10, "--per-category", min=1, help="Curated rows per category."),
    all_rows: bool = typer.Option(False, "--all", help="Keep every triplet (thousands) instead of a curated set."),
    generator: str = typer.Option(
        "rules", "--generator", help="rules (offline) | llm (llama.cpp GGUF) | openai (OpenAI-compatible server)."
    ),
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    model_name: str = typer.Option("Qwen2.5-Coder-32B-Instruct", "--model-name", help="Model name sent to the OpenAI-compatible server."),
    hard_negatives: str = typer.Option("mine", "--hard-negatives", help="mine (FAISS + embedder) | llm | none."),
    num_negatives: int = typer.Option(
        7, "--num-negatives", min=0, max=64, help="Hard negatives per row (the CSV keeps the first; the JSONL all)."
    ),
    mine_strategy: str = typer.Option("softmax", "--mine-strategy", help="softmax (temperature) | rank (uniform within the top-k)."),
    mine_temperature: float = typer.Option(0.05, "--mine-temperature", help="Softmax temperature for mining."),
    mine_margin: float = typer.Option(0.05, "--mine-margin", help="Drop candidates scoring within this margin of the positive."),
    no_consistency: bool = typer.Option(False, "--no-consistency", help="Skip consistency filtering."),
    consistency_top_k: int = typer.Option(10, "--consistency-top-k", min=1, help="The positive must rank within this many neighbours."),
    consistency_threshold: float = typer.Option(0.2, "--consistency-threshold", help="... and reach this cosine similarity."),
    pool_size: int | None = typer.Option(
        None, "--pool-size", min=0, help="Positives per task type used as neighbours (0 = all; default 64, all with --all)."
    ),
    embedder: EmbedderOption = None,
    threads: int = typer.Option(1, "--threads", min=1, help="LLM requests in flight."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes for rule synthesis (large corpora)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="LLM cache directory (default <CODERAG_HOME>/synth/cache)."),
    num_examples: int = typer.Option(3, "--num-examples", min=0, help="Few-shot examples per LLM prompt."),
    examples_pool: Path | None = typer.Option(None, "--examples-pool", help="JSONL of {task, input, output} few-shot examples."),
    no_judge: bool = typer.Option(False, "--no-judge", help="Skip the LLM quality-control judge."),
    debug: bool = typer.Option(False, "--debug", help="Keep prompts and judge answers (in the JSONL and <out>.rejected.jsonl)."),
    limit: LimitOption = None,
    seed: int = typer.Option(0, "--seed"),
    out_path: Path | None = typer.Option(
        None, "--out", help="Output CSV (default <CODERAG_HOME>/synth/curated_triplets.csv, or all_triplets.csv with --all)."
    ),
    list_tasks: bool = typer.Option(False, "--list-tasks", help="Print the task registry and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Build triplets from a corpus and/or source code, curate them, write CSV + JSONL."""
    if ctx.invoked_subcommand is not None:
        return
    if list_tasks:
        _print_tasks()
        return
    from pydantic import ValidationError

    from rag.errors import ConfigError
    from synth.pipeline import NothingWritten, SynthConfig, run_synthesis

    settings = settings_from_flags(embedder=embedder)
    try:
        config = SynthConfig(
            corpus=corpus,
            split=split,
            from_dir=from_dir,
            tasks=tasks or None,
            per_category=per_category,
            all=all_rows,
            generator=generator,
            llm_model_path=llm_model_path,
            openai_base_url=openai_base_url,
            model_name=model_name,
            hard_negatives=hard_negatives,
            num_negatives=num_negatives,
            mine_strategy=mine_strategy,
            mine_temperature=mine_temperature,
            mine_margin=mine_margin,
            consistency=not no_consistency,
            consistency_top_k=consistency_top_k,
            consistency_threshold=consistency_threshold,
            pool_size=pool_size,
            threads=threads,
            workers=workers,
            cache_dir=cache_dir,
            num_examples=num_examples,
            examples_pool=examples_pool,
            quality_control=not no_judge,
            debug=debug,
            limit=limit,
            seed=seed,
            out=out_path,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"invalid option {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    try:
        result = run_synthesis(config, settings, show_progress=not quiet)
    except NothingWritten as exc:
        _print_summary(exc.stats)
        raise
    _print_summary(result.stats)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    assert result.jsonl_path is not None  # written, or run_synthesis raised NothingWritten
    out.print(f"wrote {len(result.triplets)} triplets → {result.csv_path} (+ {result.jsonl_path.name})", highlight=False)
    out.print(f"[dim]time: {timing}[/]")


def _print_summary(stats) -> None:
    out.print(stats.table())
    if stats.notes:
        out.print("[dim]" + "; ".join(f"{k} {v}" for k, v in sorted(stats.notes.items())) + "[/]", highlight=False)


def _print_tasks() -> None:
    from synth.tasks import TASKS

    table = Table(title="Synthesis tasks")
    for column in ("task", "category", "inputs", "rules", "llm", "instruction"):
        table.add_column(column, overflow="fold")
    for task in TASKS.values():
        table.add_row(
            task.name,
            task.category.value,
            task.languages,
            "yes" if task.rule is not None else "",
            "yes" if task.uses_llm else "",
            task.instruction,
        )
    out.print(table)


@app.command("review")
def review(
    file: Path = typer.Argument(..., help="Triplet CSV or JSONL to review."),
    out_path: Path | None = typer.Option(None, "--out", help="Where accepted rows go (default FILE with .reviewed.csv)."),
    target: int | None = typer.Option(None, "--target", min=1, help="Stop reviewing a category once it has this many accepted rows."),
) -> None:
    """Show each row and ask: accept (a), reject (r) or quit (q). Accepted rows are written atomically (CSV + JSONL).

    Example: coderag synth review candidates.csv --target 10 --out synth/data/curated_triplets.csv"""
    from rich.prompt import Prompt

    from rag.errors import ConfigError, DataError
    from synth.review import QUIT, review_rows
    from synth.triplets import read_triplets_with_meta, write_triplets

    rows = read_triplets_with_meta(file)
    target_path = out_path or file.with_name(f"{file.stem}.reviewed.csv")
    if target_path.suffix.lower() != ".csv":
        raise ConfigError(f"--out must name a .csv file: {target_path}")

    def ask(row, number: int, total: int) -> str:
        _show(row, number, total)
        try:
            return Prompt.ask(r"\[a]ccept / \[r]eject / \[q]uit", choices=["a", "r", "q"], console=out)
        except EOFError:
            return QUIT

    outcome = review_rows(rows, ask, target=target)
    table = Table(title="Review")
    for column in ("category", "accepted", "rejected", "skipped", "not reviewed"):
        table.add_column(column)
    for category in dict.fromkeys(r.category for r in rows):
        table.add_row(category, *(str(outcome.counts[(category, d)]) for d in ("accepted", "rejected", "skipped", "not reviewed")))
    out.print(table)
    if not outcome.accepted:
        raise DataError("no rows were accepted; nothing was written")
    csv_path, _ = write_triplets(outcome.accepted, target_path)
    out.print(f"wrote {len(outcome.accepted)} accepted rows → {csv_path}")


def _show(row, number: int, total: int) -> None:
    def block(text: str, title: str):
        looks_like_code = any(k in text.upper() for k in ("SELECT ", "DEF ", "FUNCTION ", "RETURN "))
        body = Syntax(text, "sql", word_wrap=True) if looks_like_code else text
        return Panel(body, title=title, title_align="left")

    out.rule(f"{number}/{total}  {row.category} · {row.task_type} · {row.source}")
    out.print(block(row.query, "query"))
    out.print(block(row.pos, "positive"))
    out.print(block(row.neg or "(none)", "negative"))
