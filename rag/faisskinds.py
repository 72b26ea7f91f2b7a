"""FAISS index kinds for the vector store, chosen by size, and reading their vectors back.

`index.kind: auto` is exact flat search up to FLAT_MAX_VECTORS, an inverted-file index (IVF,
4·√n lists) above, for corpora in the millions; `hnsw` is the other choice.
benchmarks/bench_ann.py measures their recall against flat search at a million vectors. FAISS
flat search of one query is faster single-threaded (faiss issue 2953): `omp_threads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import faiss
import numpy as np

from rag.errors import IndexStoreError

INDEX_KINDS = ("auto", "flat", "ivf", "hnsw")
FLAT_MAX_VECTORS = 200_000  # one query over 200k × 384 floats takes about 12 ms on one core
IVF_NPROBE = 64  # lists searched per query: recall@10 0.966 against flat at 1M vectors (README "Scale")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128


def new_faiss_index(vectors: np.ndarray, kind: str = "auto") -> tuple[faiss.Index, dict[str, Any]]:
    """A FAISS inner-product index holding `vectors`, of `kind` (auto: flat up to FLAT_MAX_VECTORS, else
    IVF), and its search parameters for the manifest."""
    count, dimension = vectors.shape
    if kind not in INDEX_KINDS:
        raise IndexStoreError(f"unknown index kind '{kind}' (choose from {', '.join(INDEX_KINDS)})")
    if kind == "auto":
        kind = "flat" if count <= FLAT_MAX_VECTORS else "ivf"
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(dimension)
        params: dict[str, Any] = {}
    elif kind == "ivf":
        lists = max(1, min(int(4 * count**0.5), count // 39))  # FAISS wants about 39 training points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(count, size=min(count, 64 * lists), replace=False)]
        index.train(np.ascontiguousarray(sample))
        params = {"lists": lists, "nprobe": min(IVF_NPROBE, lists)}
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        params = {"m": HNSW_M, "ef_search": HNSW_EF_SEARCH}
    index.add(vectors)
    apply_search_params(index, params)
    return index, {"kind": kind, **params}


def apply_search_params(index: faiss.Index, params: dict[str, Any]) -> None:
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if "ef_search" in params:
        cast(faiss.IndexHNSW, index).hnsw.efSearch = int(params["ef_search"])  # only HNSW indexes have ef_search


def stored_vectors(index: faiss.Index, positions: np.ndarray | None = None) -> np.ndarray:
    """Vectors kept by `index` (all, or those at `positions`); IVF indexes get a direct map first."""
    if isinstance(index, faiss.IndexIVF) and index.direct_map.type == faiss.DirectMap.NoMap:  # type: ignore[attr-defined]  # faiss's stub omits DirectMap
        index.make_direct_map()
    if positions is None:
        return index.reconstruct_n(0, index.ntotal)
    return index.reconstruct_batch(np.asarray(positions, dtype=np.int64))


@contextmanager
def omp_threads(count: int | None) -> Iterator[None]:
    """FAISS flat search of one query is faster single-threaded (faiss issue 2953)."""
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
