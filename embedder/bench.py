"""Encoder speed and quality per backend, measured side by side in one run.

    coderag embedder bench --model bundled --threads 2
    python benchmarks/bench_embedder.py --model bundled

For each backend (torch fp32, onnx fp32, onnx int8) on the same documents: documents/s when
embedding the bundled train split rendered with the document template, single-query latency
(median and p95 over the test questions, one at a time), agreement with torch (cosine of the
document vectors; share of each test question's top-3 documents that torch also ranks top-3),
and Recall@3 / MRR@10 on the bundled test split. The backends take turns within each of `rounds`
passes; documents/s is the median over passes and the speed-up the median of the per-pass
ratios, so load that comes and goes on a shared machine disturbs the comparison least.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedder.retrieval import bundled_retrieval_metrics, prepare_bundled
from eval.retrieval import RetrievalEvaluation
from rag.encoders import Encoder, load_encoder, load_onnx_encoder
from rag.errors import ConfigError
from rag.settings import Settings

BACKENDS = ("torch", "onnx", "onnx-int8")


@dataclass
class BackendResult:
    backend: str
    docs_per_s: float = 0.0
    speedup: float = 1.0
    query_ms_median: float = 0.0
    query_ms_p95: float = 0.0
    min_cosine_vs_torch: float | None = None
    mean_cosine_vs_torch: float | None = None
    top3_agreement: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "docs_per_s": round(self.docs_per_s, 1),
            "speedup": round(self.speedup, 2),
            "query_ms_median": round(self.query_ms_median, 2),
            "query_ms_p95": round(self.query_ms_p95, 2),
            "min_cosine_vs_torch": self.min_cosine_vs_torch,
            "mean_cosine_vs_torch": self.mean_cosine_vs_torch,
            "top3_agreement": self.top3_agreement,
            "recall@3": self.metrics.get("recall@3"),
            "mrr@10": self.metrics.get("mrr@10"),
        }


def set_threads(threads: int) -> None:
    """Torch's CPU threads (the ONNX sessions take theirs when they are made)."""
    import torch

    torch.set_num_threads(threads)


def load_backend(model: str, backend: str, threads: int, models_dir: Path) -> Encoder:
    """`model` on one backend; the bundled model's ONNX export (and the shipped model's torch weights) live under `models_dir`."""
    if backend == "torch":
        return load_encoder(model, backend="torch", models_dir=models_dir)
    return load_onnx_encoder(model, models_dir, quantized=backend == "onnx-int8", threads=threads)


def _time_documents(encoder: Encoder, documents: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    encoder.encode(documents, batch_size=batch_size)
    return time.perf_counter() - started


def _time_queries(encoder: Encoder, queries: list[str]) -> list[float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        encoder.encode([query], batch_size=1)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _vectors(encoder: Encoder, documents: list[str], queries: list[str], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    return encoder.encode(documents, batch_size=batch_size), encoder.encode(queries, batch_size=batch_size)


def _top_k_agreement(scores: np.ndarray, reference: np.ndarray, k: int) -> float:
    """Mean share of each query's top-k documents that the reference backend also ranks in its top k."""
    top = np.argsort(-scores, axis=1)[:, :k]
    expected = np.argsort(-reference, axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top, expected)]))


def run_bench(
    settings: Settings,
    model: str = "bundled",
    *,
    backends: tuple[str, ...] = BACKENDS,
    threads: int | None = None,
    batch_size: int = 32,
    rounds: int = 5,
    evaluate: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Measure every backend of `model` (ONNX backends need `embedder export-onnx` first).

    `settings` give the models directory, the document template and the bundled metrics' relevance cache.
    """
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)} (choose from {', '.join(BACKENDS)})")
    threads = threads or os.cpu_count() or 1
    set_threads(threads)
    encoders = {b: load_backend(model, b, threads, settings.models_dir) for b in backends}
    evaluation = prepare_bundled(settings) if evaluate else None
    return {
        "model": model,
        **measure_encoders(
            encoders,
            template=settings.index.template,
            evaluation=evaluation,
            threads=threads,
            batch_size=batch_size,
            rounds=rounds,
            log=log,
        ),
    }


def measure_encoders(
    encoders: dict[str, Encoder],
    *,
    template: str,
    evaluation: RetrievalEvaluation | None = None,
    threads: int = 1,
    batch_size: int = 32,
    rounds: int = 5,
    log: Any = print,
) -> dict[str, Any]:
    """Time and score `encoders` (label → encoder) side by side; the first is the speed reference, "torch" the vector reference.

    Documents are the bundled train split rendered with `template`; with `evaluation` (`prepare_bundled`)
    each encoder's Recall@3 / MRR@10 on the bundled test split is measured too.
    """
    from rag.corpus import load_bundled
    from rag.documents import render

    backends = list(encoders)
    documents = [render(ex, template) for ex in load_bundled("train")]
    queries = [ex.question for ex in load_bundled("test")]
    results = {b: BackendResult(backend=b) for b in backends}
    for encoder in encoders.values():  # warm-up: first-call allocations and lazy init
        encoder.encode(documents[:batch_size], batch_size=batch_size)
    doc_times: dict[str, list[float]] = {b: [] for b in backends}
    query_times: dict[str, list[float]] = {b: [] for b in backends}
    for round_number in range(rounds):
        for backend, encoder in encoders.items():
            doc_times[backend].append(_time_documents(encoder, documents, batch_size))
            query_times[backend].extend(_time_queries(encoder, queries))
        log(f"round {round_number + 1}/{rounds}: " + ", ".join(f"{b} {len(documents) / doc_times[b][-1]:.1f} docs/s" for b in backends))
    reference = _vectors(encoders["torch"], documents, queries, batch_size) if "torch" in encoders else None
    first = backends[0]
    for backend, encoder in encoders.items():
        result = results[backend]
        result.docs_per_s = len(documents) / statistics.median(doc_times[backend])
        # Each pass times every backend back to back, so the ratio within a pass is what load changes disturb least.
        result.speedup = statistics.median(a / b for a, b in zip(doc_times[first], doc_times[backend]))
        result.query_ms_median = statistics.median(query_times[backend])
        result.query_ms_p95 = float(np.percentile(query_times[backend], 95))
        if reference is not None:
            docs, questions = _vectors(encoder, documents, queries, batch_size)
            cosines = np.sum(docs * reference[0], axis=1)
            result.min_cosine_vs_torch = round(float(cosines.min()), 5)
            result.mean_cosine_vs_torch = round(float(cosines.mean()), 5)
            result.top3_agreement = round(_top_k_agreement(questions @ docs.T, reference[1] @ reference[0].T, 3), 4)
        if evaluation is not None:
            result.metrics = bundled_retrieval_metrics(encoder, evaluation, template, batch_size=batch_size)
    return {
        "template": template,
        "documents": len(documents),
        "queries": len(queries),
        "batch_size": batch_size,
        "threads": threads,
        "rounds": rounds,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "results": [results[b].row() for b in backends],
    }


def format_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(
        title="embedder backends",
        caption=f"{report['model']}: {report['documents']} docs, {report['threads']} threads, template {report['template']}",
    )
    table.add_column("backend", no_wrap=True)
    for column in ("docs/s", f"×{report['results'][0]['backend']}", "query ms p50", "p95", "min cos", "top-3 =", "R@3", "MRR@10"):
        table.add_column(column, justify="right")
    fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
    for row in report["results"]:
        table.add_row(
            row["backend"],
            fmt(row["docs_per_s"], ".1f"),
            fmt(row["speedup"], ".2f") + "×",
            fmt(row["query_ms_median"], ".1f"),
            fmt(row["query_ms_p95"], ".1f"),
            fmt(row["min_cosine_vs_torch"], ".4f"),
            fmt(row["top3_agreement"], ".3f"),
            fmt(row["recall@3"], ".3f"),
            fmt(row["mrr@10"], ".3f"),
        )
    return table
