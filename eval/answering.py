"""Answering and scoring the examples of a run: each test example's gold query runs first, then the
chain answers it with k retrieved examples and with none, and both answers are scored (`eval.scoring`).

llama.cpp runs examples one after another with the model loaded once for both arms; an
OpenAI-compatible server gets `settings.openai.concurrency` examples at a time from a thread
pool, while scoring stays in the main thread. Each finished record is appended to predictions.jsonl.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.linking import link_scores
from eval.rundir import RunSpec
from eval.scoring import Gold, PairScore, Scorer
from rag.chain import Answer, TextToSQL
from rag.corpus import Example
from rag.documents import schema_only
from rag.errors import CodeRagError, ConfigError, ModelError
from rag.execution import DatabaseSource
from rag.sandbox import ReadOnlyDatabase

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


def evaluate_examples(
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
