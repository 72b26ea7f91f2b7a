"""Index build throughput and single-question latency (embed + top-3 search) at 100k documents.

    .venv/bin/python benchmarks/bench_retrieval.py [--docs 100000] [--embed-docs 100000] [--queries 300]

Documents are synthetic variations of the bundled corpus (renamed tables, columns and values),
rendered with the default template, and embedded by the configured encoder (by default the
shipped int8 retriever; `--backend torch --model bundled` for all-MiniLM-L6-v2 on torch) with
`embedder.workers` processes, as `coderag index build` does. With `--embed-docs` below `--docs`
the index is filled up to `--docs` vectors with jittered, re-normalised copies of the real ones:
a flat index searches by brute force, so its latency depends on the number and dimension of
vectors, not on what they say. Single-query search is timed with FAISS's OpenMP threads at 1 and
at the machine default in the same run, since these machines are noisy.
"""

from __future__ import annotations

import argparse
import random
import re
import time

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from rag.corpus import Example, load_bundled
from rag.documents import render
from rag.encoders import encoder_from_settings
from rag.index import VectorIndex
from rag.settings import load_settings

WORDS = "alpha beta gamma delta omega north south east west red blue green gold silver amber coral".split()


def synthetic_examples(count: int, seed: int = 0) -> list[Example]:
    """`count` distinct documents: bundled examples with identifiers and numbers rewritten."""
    rng = random.Random(seed)
    base = load_bundled("train")
    out = []
    for i in range(count):
        ex = base[i % len(base)]
        suffix = f"{rng.choice(WORDS)}_{i}"

        def rename(text: str) -> str:
            return re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + rng.randint(1, 9)), text)

        out.append(
            Example(
                id=f"syn-{i}",
                question=rename(ex.question) + f" ({rng.choice(WORDS)})",
                sql=rename(ex.sql).replace(" FROM ", f" FROM {suffix}_", 1),
                db_id=f"syn-{i}",
                context=ex.context.replace("CREATE TABLE ", f"CREATE TABLE {suffix}_", 1),
            )
        )
    return out


def fill_up(index: VectorIndex, total: int, seed: int = 0) -> None:
    """Add jittered copies of the embedded vectors until the index holds `total` of them."""
    real = index.index.reconstruct_n(0, index.index.ntotal)
    rng = np.random.default_rng(seed)
    missing = total - index.index.ntotal
    while missing > 0:
        picks = rng.integers(0, len(real), size=min(missing, 50_000))
        batch = real[picks]
        batch = batch + rng.normal(0, 0.05, size=batch.shape).astype(np.float32)
        batch /= np.linalg.norm(batch, axis=1, keepdims=True)
        index.index.add(np.ascontiguousarray(batch, dtype=np.float32))
        index.documents.extend(index.documents[i] for i in picks)
        missing -= len(batch)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--embed-docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--template", default=None)
    parser.add_argument("--model", default=None, help="embedder model (default: embedder.model, the shipped retriever)")
    parser.add_argument("--backend", default=None, choices=["torch", "onnx", "onnx-int8"], help="default: embedder.backend")
    parser.add_argument("--workers", type=int, default=None, help="embedding processes (default: embedder.workers)")
    args = parser.parse_args()

    overrides = {"model": args.model, "backend": args.backend, "workers": args.workers}
    settings = load_settings(embedder={k: v for k, v in overrides.items() if v is not None})
    template = args.template or settings.index.template
    encoder = encoder_from_settings(settings)
    embed_count = min(args.embed_docs, args.docs)
    examples = synthetic_examples(embed_count)
    texts = [render(ex, template) for ex in examples]
    mean_chars = sum(map(len, texts)) / len(texts)

    started = time.perf_counter()
    index = VectorIndex.build(
        examples, encoder, template, corpus="synthetic", batch_size=settings.embedder.batch_size, workers=settings.embedder.workers
    )
    build_s = time.perf_counter() - started
    fill_up(index, args.docs)

    questions = [ex.question for ex in load_bundled("test")]
    questions = (questions * (args.queries // len(questions) + 1))[: args.queries]
    default_threads = faiss.omp_get_max_threads()
    rows = []
    thread_pairs = ((1, 1), (1, default_threads), (default_threads, 1), (default_threads, default_threads))
    if not hasattr(encoder, "single_text_threads"):  # onnxruntime keeps its own thread pool
        thread_pairs = ((None, 1), (None, default_threads))
    for torch_threads, threads in thread_pairs:
        if torch_threads is not None:
            encoder.single_text_threads = torch_threads
        index.single_query_threads = threads
        embed_ms, search_ms, total_ms = [], [], []
        for question in questions:
            t0 = time.perf_counter()
            vector = encoder.encode([question])
            t1 = time.perf_counter()
            index.search(vector, 3)
            t2 = time.perf_counter()
            embed_ms.append((t1 - t0) * 1000)
            search_ms.append((t2 - t1) * 1000)
            total_ms.append((t2 - t0) * 1000)
        rows.append((torch_threads, threads, embed_ms, search_ms, total_ms))
    faiss.omp_set_num_threads(default_threads)

    console = Console()
    console.print(
        f"[bold]Index build[/]: {embed_count:,} documents embedded (template {template}, mean {mean_chars:.0f} chars), "
        f"{encoder.name}, {settings.embedder.workers} process(es), {default_threads} cores"
    )
    console.print(f"  {build_s:.1f} s → {embed_count / build_s:,.1f} documents/s; index filled to {index.index.ntotal:,} vectors")
    table = Table(title=f"Single-question latency at {args.docs:,} documents ({args.queries} queries, ms)")
    for column in ("torch threads", "FAISS threads", "embed p50", "search p50", "search p95", "total p50", "total p95"):
        table.add_column(column, justify="right")
    for torch_threads, threads, embed_ms, search_ms, total_ms in rows:
        table.add_row(
            str(torch_threads or "-"),
            str(threads),
            f"{percentile(embed_ms, 50):.2f}",
            f"{percentile(search_ms, 50):.2f}",
            f"{percentile(search_ms, 95):.2f}",
            f"{percentile(total_ms, 50):.2f}",
            f"{percentile(total_ms, 95):.2f}",
        )
    console.print(table)
    search_ratio = percentile(rows[1][3], 50) / max(percentile(rows[0][3], 50), 1e-9)
    console.print(f"search p50, {default_threads} FAISS threads / 1: {search_ratio:.2f}×")
    if len(rows) == 4:
        embed_ratio = percentile(rows[2][2], 50) / max(percentile(rows[0][2], 50), 1e-9)
        console.print(f"embed p50, {default_threads} torch threads / 1: {embed_ratio:.2f}×")


if __name__ == "__main__":
    main()
