"""`coderag eval run | retrieval | score` (added to the root command by ui/cli.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rag.options import (
    CorpusOption,
    EmbedderOption,
    JsonOption,
    LimitOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    TemplateOption,
    TimeoutOption,
    settings_from_flags,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Evaluate: EX/EM of RAG against no-RAG, retrieval metrics, scoring files.\n\nExample: coderag eval run --generator knn --out artifacts/eval/knn",
)
out = Console()


def _check_template(template: str) -> None:
    from rag.documents import TEMPLATES
    from rag.errors import ConfigError

    if template not in TEMPLATES:
        raise ConfigError(f"unknown document template '{template}' (choose from {', '.join(TEMPLATES)})")


@app.command("run")
def run(
    corpus: CorpusOption = "bundled",
    split: Annotated[str, typer.Option("--split", help="Split to evaluate; the index always holds the train split.")] = "test",
    limit: LimitOption = None,
    generator: Annotated[str, typer.Option("--generator", help="llm | openai | knn")] = "knn",
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=50, help="Examples retrieved in the RAG arm (default: retrieval.k).")] = None,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Skip the no-RAG (k=0) arm.")] = False,
    embedder: EmbedderOption = None,
    template: TemplateOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default: artifacts/eval/<corpus>-<generator>-<time>).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier run in --out.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    store: Annotated[
        str,
        typer.Option(
            "--store",
            help="corpus: retrieve from the train split; synth: from each test database's synthesized store (as `db add` makes it).",
        ),
    ] = "corpus",
    store_examples: Annotated[
        int,
        typer.Option(
            "--store-examples",
            min=1,
            help="--store synth: examples synthesized per database (`db add` makes 2,000 for one database; an evaluation over many bounds each store to 300 by default).",
        ),
    ] = 300,
    engine_url: Annotated[
        str | None,
        typer.Option(
            "--engine-url",
            help="Also compute EX on this PostgreSQL, MySQL/MariaDB or DuckDB database: each test database is copied in turn into it (its role must create tables: use a scratch database), the SQL transpiled and run there.",
        ),
    ] = None,
) -> None:
    """RAG (k) against no-RAG (k=0) on a test split: predictions.jsonl, metrics.json, report.md, a plot.

    Example: coderag eval run --generator knn --limit 50 --out artifacts/eval/knn"""
    from eval.rundir import RunSpec
    from eval.runner import run_evaluation
    from rag.errors import ConfigError
    from rag.generators import check_gguf

    if generator not in ("llm", "openai", "knn", "auto"):
        raise ConfigError(f"unknown generator '{generator}' (llm, openai, knn)")
    if store not in ("corpus", "synth"):
        raise ConfigError(f"unknown store '{store}' (corpus, synth)")
    settings = settings_from_flags(
        generator=generator, llm_model_path=llm_model_path, openai_base_url=openai_base_url, embedder=embedder, template=template, k=k
    )
    _check_template(settings.index.template)
    model_path = llm_model_path or settings.llm.model_path
    if generator == "llm" and model_path:
        check_gguf(model_path)
    engine = None
    if engine_url:
        from eval.engines import parse_engine_url

        engine = parse_engine_url(engine_url)
    if resume and out_dir is None:
        raise ConfigError("--resume needs the --out directory of the run to continue")
    spec = RunSpec(
        corpus=corpus,
        split=split,
        limit=limit,
        generator=generator,
        llm_model_path=str(model_path) if generator == "llm" and model_path else None,
        openai_base_url=(openai_base_url or settings.openai.base_url) if generator == "openai" else None,
        k=settings.retrieval.k,
        baseline=not no_baseline,
        embedder=settings.embedder.model,
        template=settings.index.template,
        store=store,
        store_examples=store_examples,
    )
    if spec.k < 1:
        raise ConfigError("the RAG arm needs k >= 1 (retrieval.k is 0); the no-RAG arm is k=0 already")
    target = out_dir or Path("artifacts") / "eval" / f"{_slug(corpus)}-{generator}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_evaluation(spec, settings, target, resume=resume, overwrite=overwrite, console=out, show_progress=not no_progress, engine=engine)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "corpus"


@app.command("retrieval")
def retrieval(
    corpus: CorpusOption = "bundled",
    split: Annotated[str, typer.Option("--split", help="Split whose questions are the queries.")] = "test",
    embedder: EmbedderOption = None,
    templates: Annotated[list[str] | None, typer.Option("--template", help="Document template; repeat to compare several.")] = None,
    limit: LimitOption = None,
    as_json: JsonOption = False,
    cross_db: Annotated[
        bool, typer.Option("--cross-db", help="Leave-one-database-out, question to question: plain, masked and fused (eval.crossdb).")
    ] = False,
) -> None:
    """Retrieval only (no generator): Recall@1/3, MRR@10 of train examples for the test questions.

    Example: coderag eval retrieval --template question_sql --template question"""
    from eval.retrieval import RetrievalEvaluation, train_index
    from rag.encoders import encoder_from_settings

    settings = settings_from_flags(embedder=embedder)
    if cross_db:
        _cross_db(corpus, split, limit, as_json, settings)
        return
    names = templates or [settings.index.template]
    for name in names:
        _check_template(name)
    evaluation = RetrievalEvaluation.prepare(corpus, split=split, settings=settings, limit=limit, show_progress=not as_json)
    encoder = encoder_from_settings(settings)
    results = []
    for name in names:
        index = train_index(settings, encoder, corpus, name, evaluation.train, show_progress=not as_json)
        results.append(evaluation.evaluate(encoder, index))
    if as_json:
        out.print_json(json.dumps(results if len(results) > 1 else results[0]))
        return
    columns = {"R@1": "recall@1", "R@3": "recall@3", "R@10": "recall@10", "MRR@10": "mrr@10", "Acc@1": "accuracy@1", "Acc@3": "accuracy@3"}
    table = Table(title=f"Retrieval on {corpus} {split} (embedder {encoder.name})")
    table.add_column("template", no_wrap=True)
    for header in [*columns, "queries"]:
        table.add_column(header, justify="right")
    for result in results:
        table.add_row(result["template"], *(f"{result[m]:.3f}" for m in columns.values()), str(int(result["queries"])))
    out.print(table)
    out.print("[dim]R@k: recall@k, Acc@k: accuracy@k (a relevant example in the top k), MRR@10: mean reciprocal rank[/]")
    first = results[0]
    out.print(
        f"[dim]{int(first['queries_without_relevant'])} test questions have no relevant train example and are left out; "
        f"relevant by execution: {first['relevant_by_execution']}, by skeleton: {first['relevant_by_skeleton']}[/]"
    )


def _cross_db(corpus: str, split: str, limit: int | None, as_json: bool, settings) -> None:
    from eval.crossdb import VARIANTS, CrossDbEvaluation, load_cross_db
    from rag.encoders import encoder_from_settings

    queries, pool, names = load_cross_db(corpus, split, home=settings.home, limit=limit)
    evaluation = CrossDbEvaluation.prepare(queries, pool, vocabularies=names)
    results = evaluation.evaluate(encoder_from_settings(settings), template=settings.index.template)
    if as_json:
        out.print_json(json.dumps(results))
        return
    stats = results["stats"]
    table = Table(title=f"Cross-database retrieval on {corpus} {split} (embedder {stats['embedder']})")
    for header in ("variant", "R@1", "R@3", "MRR@10", "queries"):
        table.add_column(header, justify="left" if header == "variant" else "right")
    for variant in VARIANTS:
        metrics = results[variant]
        table.add_row(
            variant, f"{metrics['recall@1']:.3f}", f"{metrics['recall@3']:.3f}", f"{metrics['mrr@10']:.3f}", str(int(metrics["queries"]))
        )
    out.print(table)
    out.print(
        f"[dim]relevant: same SQL skeleton in another database; {int(results['plain']['queries_without_relevant'])} questions have none "
        f"and are left out; {stats['databases']} databases, pool of {stats['pool']}[/]"
    )


@app.command("score")
def score(
    gold: Annotated[Path, typer.Option("--gold", help="Gold file: one 'SQL<TAB>db_id' per line.")],
    pred: Annotated[Path, typer.Option("--pred", help="Predictions: one SQL per line, same order.")],
    db_dir: Annotated[Path, typer.Option("--db-dir", help="Databases at DIR/<db_id>/<db_id>.sqlite.")],
    results_path: Annotated[Path | None, typer.Option("--out", help="Write per-line results here (JSONL).")] = None,
    timeout_s: TimeoutOption = None,
) -> None:
    """Score predictions in Spider's file format: EX, EM and EM-AST, as `eval run` computes them.

    Example: coderag eval score --gold dev_gold.sql --pred pred.sql --db-dir spider/database --out per_line.jsonl"""
    from eval.spider_files import score_files
    from rag.io import write_jsonl_atomic

    settings = settings_from_flags(timeout_s=timeout_s)
    metrics, results = score_files(gold, pred, db_dir, timeout_s=settings.execution.timeout_s)
    if results_path is not None:
        results_path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl_atomic(results_path, results)
    table = Table("n", "EX %", "EM %", "EM-AST %", "no SQL", "parse error", "execution error", "timeout", "wrong result", "excluded")
    table.add_row(
        str(metrics["n"]),
        f"{100 * metrics['ex']:.1f}",
        f"{100 * metrics['em']:.1f}",
        f"{100 * metrics['em_ast']:.1f}",
        *(str(v) for v in metrics["errors"].values()),
        str(metrics["excluded"]),
    )
    out.print(table)
    if results_path is not None:
        out.print(f"per-line results → {results_path}")
