"""Approximate FAISS indexes against exact search at a million vectors: recall@10, latency, build time.

    .venv/bin/python benchmarks/bench_ann.py [--vectors 1000000] [--queries 1000]

The vectors are synthetic but shaped like document embeddings: L2-normalised points around 20,000
random centres in 384 dimensions (clusters of similar documents) that vary within one shared
64-dimensional subspace (sentence embeddings use far fewer directions than they have), the queries
drawn the same way. Exact inner-product search (IndexFlatIP) gives the true top 10; each approximate index is
built the way `rag.index.new_faiss_index` builds it and searched at several settings of its knob
(IVF: lists probed; HNSW: efSearch). Latency is one query at a time on one thread, as coderag searches.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.index import new_faiss_index  # noqa: E402

K = 10


def clustered(count: int, centres: np.ndarray, basis: np.ndarray, rng: np.random.Generator, batch: int = 100_000) -> np.ndarray:
    """`count` unit vectors: a random centre plus a random spread along the shared `basis` directions."""
    out = np.empty((count, centres.shape[1]), dtype=np.float32)
    for start in range(0, count, batch):
        size = min(batch, count - start)
        picks = centres[rng.integers(0, len(centres), size)]
        spread = rng.uniform(0.4, 0.9, size=(size, 1)).astype(np.float32)
        points = picks + (rng.standard_normal((size, basis.shape[0]), dtype=np.float32) @ basis) * spread
        out[start : start + size] = points / np.linalg.norm(points, axis=1, keepdims=True)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def timed_search(index: faiss.Index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    faiss.omp_set_num_threads(1)
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(index.search(query[None, :], K)[1][0])
        times.append((time.perf_counter() - started) * 1000)
    return np.asarray(found), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--kinds", default="ivf,hnsw", help="approximate kinds to measure (ivf, hnsw)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20_000, args.dimension), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = np.linalg.qr(rng.standard_normal((args.dimension, 64)))[0].T.astype(np.float32) / np.sqrt(64)
    vectors = clustered(args.vectors, centres, basis, rng)
    queries = clustered(args.queries, centres, basis, rng)
    threads = faiss.omp_get_max_threads()

    flat = faiss.IndexFlatIP(args.dimension)
    flat.add(vectors)
    faiss.omp_set_num_threads(threads)
    truth = flat.search(queries, K)[1]
    _, flat_ms = timed_search(flat, queries[:100])
    rows = [("flat (exact)", "-", 0.0, 1.0, float(np.median(flat_ms)), float(np.percentile(flat_ms, 95)))]
    del flat

    knobs = {"ivf": ("nprobe", (8, 16, 32, 64, 128)), "hnsw": ("efSearch", (32, 64, 128, 256))}
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        faiss.omp_set_num_threads(threads)
        started = time.perf_counter()
        index, params = new_faiss_index(vectors, kind)
        build_s = time.perf_counter() - started
        name, values = knobs[kind]
        for value in values:
            if kind == "ivf":
                faiss.extract_index_ivf(index).nprobe = value
            else:
                index.hnsw.efSearch = value
            found, ms = timed_search(index, queries)
            label = f"ivf, {params['lists']} lists" if kind == "ivf" else f"hnsw, M {params['m']}"
            rows.append((label, f"{name} {value}", build_s, recall(found, truth), float(np.median(ms)), float(np.percentile(ms, 95))))
        del index

    table = Table(
        title=f"recall@{K} against exact search: {args.vectors:,} × {args.dimension} vectors, {args.queries} queries, build on {threads} threads"
    )
    for column in ("index", "search setting", "build s", f"recall@{K}", "query p50 ms", "query p95 ms"):
        table.add_column(column, justify="right")
    for index_name, setting, build_s, value, p50, p95 in rows:
        table.add_row(index_name, setting, f"{build_s:.0f}", f"{value:.3f}", f"{p50:.2f}", f"{p95:.2f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
