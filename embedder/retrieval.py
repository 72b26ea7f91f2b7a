"""Retrieval metrics for an encoder: Recall@1, Recall@3 and MRR@10.

`bundled_retrieval_metrics` is the project's yardstick for embedders: the bundled train split
is the example store (rendered with a document template), the bundled test questions are the
queries, and a stored example is relevant when it is from the same domain (so the same
database schema) and of the same SQL complexity class: the few-shot examples that help most.
When the eval module provides `eval.retrieval.evaluate_retrieval`, that definition is used
instead, so the embedder and the evaluation report the same numbers.

`triplet_retrieval_metrics` scores a held-out triplet file: each query against every
positive and negative text in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedder.encoder import Encoder
from embedder.triplets import TripletSet

PRIMARY = "mrr@10"


def rank_metrics(queries: np.ndarray, documents: np.ndarray, relevant: Sequence[set[int]], *, ks: Sequence[int] = (1, 3), mrr_at: int = 10) -> dict[str, float]:
    """Recall@k (a relevant document in the top k) and MRR@`mrr_at` over L2-normalised vectors."""
    scores = queries @ documents.T
    depth = min(max(*ks, mrr_at), documents.shape[0])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    hits = np.array([[doc in rel for doc in row] for row, rel in zip(top, relevant)], dtype=bool)
    metrics = {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}
    first = np.where(hits[:, :mrr_at].any(axis=1), hits[:, :mrr_at].argmax(axis=1) + 1, np.inf)
    metrics[f"mrr@{mrr_at}"] = float(np.mean(1.0 / first))
    return metrics


def _fallback_bundled_metrics(encoder: Encoder, template: str, batch_size: int, show_progress: bool) -> dict[str, Any]:
    from rag.corpus import load_bundled
    from rag.documents import render

    store, tests = load_bundled("train"), load_bundled("test")
    key = lambda ex: (ex.meta.get("domain"), ex.meta.get("sql_complexity"))  # noqa: E731
    by_key: dict[Any, set[int]] = {}
    for position, ex in enumerate(store):
        by_key.setdefault(key(ex), set()).add(position)
    documents = encoder.encode([render(ex, template) for ex in store], batch_size=batch_size, show_progress=show_progress)
    queries = encoder.encode([ex.question for ex in tests], batch_size=batch_size)
    metrics: dict[str, Any] = rank_metrics(queries, documents, [by_key.get(key(ex), set()) for ex in tests])
    metrics.update(queries=len(tests), documents=len(store), template=template, definition="embedder: same domain + sql_complexity")
    return metrics


def _eval_module_function() -> Any:
    """`eval.retrieval.evaluate_retrieval` when the eval module provides it, else None."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("eval.retrieval") is None:
        return None
    return getattr(importlib.import_module("eval.retrieval"), "evaluate_retrieval", None)


def bundled_retrieval_metrics(encoder: Encoder, template: str, *, batch_size: int = 64, show_progress: bool = False) -> dict[str, Any]:
    """Recall@1/@3 and MRR@10 of `encoder` on the bundled test split with document `template`."""
    evaluate_retrieval = _eval_module_function()
    if evaluate_retrieval is None:
        return _fallback_bundled_metrics(encoder, template, batch_size, show_progress)
    metrics = dict(evaluate_retrieval(encoder, corpus="bundled", template=template))
    metrics.setdefault("template", template)
    metrics.setdefault("definition", "eval.retrieval")
    return metrics


def triplet_retrieval_metrics(encoder: Encoder, triplets: TripletSet, *, batch_size: int = 64) -> dict[str, Any]:
    """Each distinct query against every positive and negative text of a held-out triplet file."""
    texts: dict[str, int] = {}
    for row in triplets.rows:
        for text in (row.pos, row.neg):
            if text:
                texts.setdefault(text, len(texts))
    relevant: dict[str, set[int]] = {}
    for row in triplets.rows:
        relevant.setdefault(row.query, set()).add(texts[row.pos])
    queries = list(relevant)
    metrics: dict[str, Any] = rank_metrics(
        encoder.encode(queries, batch_size=batch_size),
        encoder.encode(list(texts), batch_size=batch_size),
        [relevant[q] for q in queries],
    )
    metrics.update(queries=len(queries), documents=len(texts))
    return metrics


def compare(before: dict[str, Any], after: dict[str, Any], keys: Sequence[str] = ("recall@1", "recall@3", PRIMARY)) -> list[tuple[str, float, float, float]]:
    """(metric, before, after, delta) rows for a before/after table."""
    return [(k, float(before[k]), float(after[k]), float(after[k]) - float(before[k])) for k in keys if k in before and k in after]


def is_better(candidate: dict[str, Any], current: dict[str, Any]) -> bool:
    """The candidate wins on MRR@10, with Recall@3 breaking a tie; equal is not better."""
    return (candidate[PRIMARY], candidate["recall@3"]) > (current[PRIMARY], current["recall@3"])
