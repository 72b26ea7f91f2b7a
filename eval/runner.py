"""`coderag eval run`: the chain with retrieval (k) and the no-RAG baseline (k=0) on a test split.

    coderag eval run --generator knn --out runs/knn

For each test example the gold query runs first on the example's database (an example whose
gold query cannot run is excluded and counted); then the chain answers with k retrieved train
examples and with none, and both answers are scored (`eval.scoring`). Each finished example is
appended to predictions.jsonl at once, so an interrupted run keeps its work and `--resume`
continues it. At the end metrics.json, report.md and the plot are written (atomically) from the
whole predictions file.

llama.cpp runs examples one after another with the model loaded once for both arms; an
OpenAI-compatible server gets `settings.openai.concurrency` examples at a time from a thread
pool, while scoring stays in the main thread.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.linking import link_scores, linking_metrics
from eval.report import plot_ex_by_complexity, print_tables, render_report, summarize
from eval.retrieval import (
    RetrievalEvaluation,
    split_examples,
    train_examples,
    train_index,
)
from eval.scoring import Gold, PairScore, Scorer
from eval.stores import store_metrics, synthesized_index, synthesized_train
from rag.answer import Answer
from rag.chain import TextToSQL
from rag.corpus import Example
from rag.documents import schema_only
from rag.errors import CodeRagError, ConfigError, DataError, ModelError
from rag.execution import DatabaseSource
from rag.generators import Generator
from rag.io import json_text, write_jsonl_atomic, write_text_atomic
from rag.models import DEFAULT_MODEL
from rag.sandbox import ReadOnlyDatabase
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.engines import DatabaseURL

PREDICTIONS, METRICS, REPORT, PLOT, RUN = "predictions.jsonl", "metrics.json", "report.md", "ex_by_complexity.png", "run.json"


class EvalInterrupted(CodeRagError):
    """Ctrl-C during a run: what is done is kept in predictions.jsonl."""

    exit_code = 130


@dataclass(frozen=True)
class RunSpec:
    """What a run evaluates; a resumed run must match the interrupted one (except `limit`)."""

    corpus: str = "bundled"
    split: str = "test"
    limit: int | None = None
    generator: str = "knn"
    llm_model_path: str | None = None
    openai_base_url: str | None = None
    k: int = 3
    baseline: bool = True
    embedder: str = DEFAULT_MODEL
    template: str = "question_sql_context"
    store: str = "corpus"  # corpus: retrieve from the corpus's train split; synth: from each database's synthesized store
    store_examples: int = 300  # synth: examples synthesized per database (bounded: `db add` makes 2,000 for one)

    def resume_command(self, out: Path) -> str:
        parts = ["coderag", "eval", "run", "--corpus", self.corpus, "--split", self.split, "--generator", self.generator]
        if self.limit:
            parts += ["--limit", str(self.limit)]
        if self.llm_model_path:
            parts += ["--llm-model-path", self.llm_model_path]
        if self.openai_base_url:
            parts += ["--openai-base-url", self.openai_base_url]
        parts += [
            "--k",
            str(self.k),
            "--embedder",
            self.embedder,
            "--template",
            self.template,
            "--store",
            self.store,
            "--store-examples",
            str(self.store_examples),
        ]
        if not self.baseline:
            parts.append("--no-baseline")
        parts += ["--out", str(out), "--resume"]
        return shlex.join(parts)


# --- the predictions file ---------------------------------------------------------------------


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Records of predictions.jsonl; a truncated last line (a crash mid-write) is dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError("not a prediction record")
        except ValueError:
            if number == len(lines):
                break
            raise DataError(
                f"{path}:{number}: malformed prediction record", hint="delete the line or start again with --overwrite"
            ) from None
        records.append(record)
    return records


def prepare_out_dir(out: Path, spec: RunSpec, *, resume: bool, overwrite: bool) -> list[dict[str, Any]]:
    """Check --out against --resume/--overwrite before anything is written; the records already done."""
    predictions = out / PREDICTIONS
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other")
    if resume:
        if not predictions.is_file():
            raise ConfigError(f"nothing to resume: {predictions} does not exist")
        try:
            earlier = json.loads((out / RUN).read_text(encoding="utf-8"))["spec"]
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise DataError(f"cannot resume: {out / RUN} is missing or corrupt") from None
        mine = asdict(spec)
        different = [key for key in mine if key != "limit" and earlier.get(key) != mine[key]]
        if different:
            key = different[0]
            raise ConfigError(f"cannot resume: this run has {key}={mine[key]!r}, the one in {out} has {key}={earlier.get(key)!r}")
        return read_predictions(predictions)
    if predictions.exists() and not overwrite:
        raise ConfigError(
            f"{out} already holds an evaluation run", hint="pass --resume to continue it, --overwrite to start again, or another --out"
        )
    return []


# --- one example ----------------------------------------------------------------------------


def _schema(example: Example) -> str:
    return schema_only(example.context) if example.db_path is None else example.context


def answer_example(service: TextToSQL, example: Example, k: int, database: ReadOnlyDatabase | None = None) -> Answer:
    """The chain's answer without executing (scoring executes); a broken generator stops the run.
    `database` (open read-only) lets knn adapt its examples to the question, as `ask` does."""
    try:
        # force: knn answers even when unsure; its confidence is recorded and the abstention scored after
        return service.ask(
            example.question, db_key=example.db_id, schema=_schema(example), database=database, k=k, execute=False, force=True
        )
    except ConfigError as exc:  # an empty or over-long question: no SQL for this example
        return Answer(
            question=example.question, db=example.db_id, generator=service.generator.name, k=k, error=str(exc), error_kind="no_sql"
        )
    except CodeRagError:
        raise
    except Exception as exc:  # HTTP and runtime errors of LLM backends
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"the generator failed on example {example.id}: {type(exc).__name__}: {first}") from None


def arm_record(answer: Answer, score: PairScore) -> dict[str, Any]:
    return {
        "sql": score.sql,
        "raw": answer.raw,
        "ex": score.ex,
        "em": score.em,
        "em_ast": score.em_ast,
        "error_category": score.category,
        "error": answer.error or score.error,
        "retrieved": [{"id": r.id, "score": r.score} for r in answer.retrieved],
        "confidence": None if answer.confidence is None else round(answer.confidence, 4),
        "adapted": answer.adapted,
        "composed": answer.composed,
        "prompt_chars": answer.prompt_chars,
        "link": answer.link,
        "latency_ms": round(answer.timings_ms.get("total", 0.0), 1),
    }


def example_record(example: Example, gold: Gold) -> dict[str, Any]:
    return {
        "id": example.id,
        "question": example.question,
        "db_id": example.db_id,
        "gold_sql": example.sql,
        "sql_complexity": example.meta.get("sql_complexity"),
        "excluded": gold.excluded,
    }


# --- the run ----------------------------------------------------------------------------------


@dataclass
class RunningScore:
    """Live EX for the progress bar."""

    n: int = 0
    rag: int = 0
    no_rag: int = 0

    def add(self, record: dict[str, Any]) -> None:
        if record.get("excluded"):
            return
        self.n += 1
        self.rag += bool(record["rag"]["ex"])
        self.no_rag += bool(record.get("no_rag", {}).get("ex"))

    def describe(self, baseline: bool) -> str:
        if not self.n:
            return "evaluating"
        text = f"EX RAG {100 * self.rag / self.n:.1f}%"
        return text + (f" · no-RAG {100 * self.no_rag / self.n:.1f}%" if baseline else "")


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
                _evaluate_examples(service, scorer, spec, pending, predictions, len(test), done, concurrency, status, show_progress)
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


def _evaluate_examples(
    service: TextToSQL,
    scorer: Scorer,
    spec: RunSpec,
    pending: list[Example],
    predictions: Path,
    total: int,
    done: list[dict[str, Any]],
    concurrency: int,
    console: Any,
    show_progress: bool,
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    running = RunningScore()
    for record in done:
        running.add(record)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress,
    )
    with progress, predictions.open("a", encoding="utf-8") as handle:
        task = progress.add_task(running.describe(spec.baseline), total=total, completed=total - len(pending))
        for record in _records(service, scorer, spec, pending, concurrency):
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            running.add(record)
            progress.update(task, advance=1, description=running.describe(spec.baseline))


def _records(service: TextToSQL, scorer: Scorer, spec: RunSpec, pending: list[Example], concurrency: int) -> Iterator[dict[str, Any]]:
    """Finished records, generated sequentially or `concurrency` at a time; scored in this thread."""
    arms = [("rag", spec.k)] + ([("no_rag", 0)] if spec.baseline else [])

    def generate(example: Example) -> dict[str, Answer]:
        database = None
        if service.generator.name == "knn" and service.settings.adapt.enabled and service.retriever.has_examples(example.db_id):
            try:
                database = scorer.databases.get(DatabaseSource.for_example(example))  # knn adapts with it, as `ask` does
            except CodeRagError:
                database = None  # a database that does not load is scored as excluded; knn replays its example
        return {arm: answer_example(service, example, k, database) for arm, k in arms}

    def finish(example: Example, gold: Gold, answers: dict[str, Answer]) -> dict[str, Any]:
        record = example_record(example, gold)
        for arm, answer in answers.items():
            record[arm] = arm_record(answer, scorer.score(answer.sql, gold))
            if answer.link is not None:
                try:
                    schema = service.linker(scorer.databases.get(DatabaseSource.for_example(example))).schema
                except CodeRagError:
                    continue
                columns = {t.name: [c.name for c in t.columns] for t in schema.tables}
                record[arm]["link_scores"] = link_scores(answer.link, example.sql, columns)
        return record

    golds = ((example, scorer.gold(example.sql, DatabaseSource.for_example(example))) for example in pending)
    if concurrency <= 1:
        for example, gold in golds:
            yield example_record(example, gold) if gold.excluded else finish(example, gold, generate(example))
        return
    yield from _concurrent(golds, generate, finish, concurrency)


def _concurrent(
    golds: Iterator[tuple[Example, Gold]],
    generate: Callable[[Example], dict[str, Answer]],
    finish: Callable[[Example, Gold, dict[str, Answer]], dict[str, Any]],
    concurrency: int,
) -> Iterator[dict[str, Any]]:
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    running: dict[Future, tuple[Example, Gold]] = {}
    try:
        for example, gold in golds:
            if gold.excluded:
                yield example_record(example, gold)
                continue
            running[executor.submit(generate, example)] = (example, gold)
            while len(running) >= 2 * concurrency:
                yield from _drain(running, finish, wait(running, return_when=FIRST_COMPLETED).done)
        while running:
            yield from _drain(running, finish, wait(running, return_when=FIRST_COMPLETED).done)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _drain(running: dict[Future, tuple[Example, Gold]], finish: Callable, ready: set[Future]) -> Iterator[dict[str, Any]]:
    for future in ready:
        example, gold = running.pop(future)
        yield finish(example, gold, future.result())
