"""`coderag eval run`: the chain with retrieval (k) and the no-RAG baseline (k=0) on a test split.

    coderag eval run --generator knn --out runs/knn

For each test example the gold query runs first on the example's database (an example whose
gold query cannot run is excluded and counted); then the chain answers with k retrieved train
examples and with none, and both answers are scored (`eval.scoring`). Each finished example is
appended to predictions.jsonl at once, so an interrupted run keeps its work and `--resume`
continues it. At the end metrics.json, report.md and the plot are written (atomically) from the
whole predictions file. The run directory is `eval.rundir`; answering and scoring the
examples, `eval.answering`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.answering import evaluate_examples
from eval.linking import linking_metrics
from eval.report import plot_ex_by_complexity, print_tables, render_report, summarize
from eval.retrieval import (
    RetrievalEvaluation,
    split_examples,
    train_examples,
    train_index,
)
from eval.rundir import METRICS, PLOT, PREDICTIONS, REPORT, RUN, RunSpec, prepare_out_dir, read_predictions
from eval.scoring import Scorer
from eval.stores import store_metrics, synthesized_index, synthesized_train
from rag.chain import TextToSQL
from rag.errors import CodeRagError, DataError
from rag.generators import Generator
from rag.io import json_text, write_jsonl_atomic, write_text_atomic
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.engines import DatabaseURL


class EvalInterrupted(CodeRagError):
    """Ctrl-C during a run: what is done is kept in predictions.jsonl."""

    exit_code = 130


def run_evaluation(
    spec: RunSpec,
    settings: Settings,
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    encoder: Any = None,
    generator: Generator | None = None,
    console: Any = None,
    show_progress: bool = True,
    engine: DatabaseURL | None = None,
) -> dict[str, Any]:
    """Run (or resume) an evaluation and write the four outputs under `out`; returns metrics.json's dict.

    Progress goes to stderr, the result tables to `console` (default: stdout). With `engine`, EX is
    also computed on that engine (eval.engines; metrics.json's `engine`)."""
    from rich.console import Console

    console = console or Console()
    status = Console(stderr=True)
    out = Path(out)
    done = prepare_out_dir(out, spec, resume=resume, overwrite=overwrite)
    test = split_examples(spec.corpus, spec.split, settings, spec.limit)
    duplicates = len(test) - len({e.id for e in test})
    if duplicates:
        raise DataError(f"corpus '{spec.corpus}' split '{spec.split}' has {duplicates} duplicate example ids")
    skipped: dict[str, str] = {}
    phases: dict[str, float] = {}  # wall seconds per phase, in metrics.json's config
    started = time.perf_counter()
    if spec.store == "synth":
        train, skipped = synthesized_train(test, settings, max_examples=spec.store_examples, show_progress=show_progress)
        phases["synthesis"] = time.perf_counter() - started
        test = [e for e in test if e.db_id not in skipped]
        if not train:
            raise DataError(f"no database of corpus '{spec.corpus}' split '{spec.split}' could be synthesized", hint=str(skipped)[:300])
    else:
        train = train_examples(spec.corpus, test, settings)
    own_generator = generator is None
    started = time.perf_counter()
    service = TextToSQL.from_settings(
        settings,
        encoder=encoder,
        build_index=lambda encoder: (
            synthesized_index(train, settings, encoder, spec.template, show_progress=show_progress)
            if spec.store == "synth"
            else train_index(settings, encoder, spec.corpus, spec.template, train)
        ),
        generator=generator,
    )
    generator, encoder, index = service.generator, service.encoder, service.index
    phases["index"] = time.perf_counter() - started
    if service.notice and spec.generator == "auto":
        status.print(f"[yellow]note:[/] {service.notice}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        predictions = out / PREDICTIONS
        for stale in (METRICS, REPORT, PLOT):  # rewritten at the end; never left describing another run
            (out / stale).unlink(missing_ok=True)
        if resume:
            write_jsonl_atomic(predictions, done)  # drops a truncated last line before appending
        else:
            write_text_atomic(out / RUN, json_text({"spec": asdict(spec), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}))
            write_jsonl_atomic(predictions, [])
        finished = {r["id"] for r in done}
        pending = [e for e in test if e.id not in finished]
        with Scorer(timeout_s=settings.execution.timeout_s) as scorer:
            concurrency = settings.openai.concurrency if generator.name.startswith("openai") else 1
            started = time.perf_counter()
            try:
                evaluate_examples(service, scorer, spec, pending, predictions, len(test), done, concurrency, status, show_progress)
            except KeyboardInterrupt:
                kept = len(read_predictions(predictions))
                raise EvalInterrupted(
                    f"interrupted: {kept} of {len(test)} examples are kept in {predictions}",
                    hint=f"resume with: {spec.resume_command(out)}",
                ) from None
            except CodeRagError as exc:
                exc.hint = exc.hint or f"finished examples are kept; resume with: {spec.resume_command(out)}"
                raise
            phases["answering"] = time.perf_counter() - started
            started = time.perf_counter()
            test_ids = {e.id for e in test}
            records = [r for r in read_predictions(predictions) if r["id"] in test_ids]
            metrics = summarize(records, baseline=spec.baseline, min_confidence=settings.retrieval.min_confidence)
            if (linking := linking_metrics(records)) is not None:
                metrics["linking"] = linking
            if spec.store == "synth":
                metrics["store"] = {
                    **store_metrics(test, train, records, timeout_s=settings.execution.timeout_s, show_progress=show_progress),
                    "skipped_databases": len(skipped),
                    "skipped": dict(list(skipped.items())[:20]),
                }
            phases["store_metrics"] = time.perf_counter() - started
            started = time.perf_counter()
            retrieval = RetrievalEvaluation.prepare(
                spec.corpus, settings=settings, test=test, train=train, scorer=scorer, show_progress=show_progress
            )
            metrics["retrieval"] = retrieval.evaluate(encoder, index)
            phases["retrieval_metrics"] = time.perf_counter() - started
            if engine is not None:
                from eval.engines import score_on_engine

                started = time.perf_counter()
                metrics["engine"] = score_on_engine(
                    records, test, engine, timeout_s=settings.execution.timeout_s, show_progress=show_progress
                )
                phases["engine"] = time.perf_counter() - started
        metrics["config"] = {
            **asdict(spec),
            "generator_name": generator.name,
            "embedder_name": getattr(encoder, "name", None),
            "embedder_fingerprint": getattr(encoder, "fingerprint", None),
            "n_test": len(test),
            "n_train_indexed": len(index.documents),
            "timeout_s": settings.execution.timeout_s,
            "phases_s": {name: round(seconds, 1) for name, seconds in phases.items()},
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_outputs(metrics, out)
        print_tables(metrics, console)
        console.print(f"wrote {out / PREDICTIONS}, {out / METRICS}, {out / REPORT}, {out / PLOT}")
        return metrics
    finally:
        if own_generator:
            generator.close()


def write_outputs(metrics: dict[str, Any], out: Path) -> None:
    write_text_atomic(out / METRICS, json_text(metrics))
    plot_ex_by_complexity(metrics, out / PLOT)
    write_text_atomic(out / REPORT, render_report(metrics, PLOT))
