"""Retrieval metrics for an encoder, with the eval module's definitions (`eval.retrieval`).

`bundled_retrieval_metrics` is the yardstick for embedders: the bundled train split is the
example store (rendered with a document template), the bundled test questions are the queries,
and relevance is `eval.relevance` (execution-equivalent SQL or the same SQL skeleton). Keys:
accuracy@k (a relevant example in the top k), recall@k (share of the relevant examples in the
top k) and mrr@10, the primary metric.

`triplet_retrieval_metrics` scores a held-out triplet file (`--eval-data`): each distinct query
against every positive and negative text in the file, its own positives being relevant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.retrieval import RetrievalEvaluation, retrieval_metrics
from rag.encoders import Encoder
from rag.settings import Settings
from synth.triplets import TripletSet

PRIMARY = "mrr@10"
TABLE_KEYS = ("accuracy@3", "recall@3", PRIMARY)


def prepare_bundled(settings: Settings) -> RetrievalEvaluation:
    """The bundled yardstick: test questions, train examples and their relevance.

    Relevance is judged once and cached on disk under settings.home (by eval), so preparing it
    again is cheap; prepare it once per run and measure every encoder with it.
    """
    return RetrievalEvaluation.prepare("bundled", settings=settings)


def bundled_retrieval_metrics(encoder: Encoder, evaluation: RetrievalEvaluation, template: str, *, batch_size: int = 64) -> dict[str, Any]:
    """Metrics of `encoder` on the bundled test split (`evaluation`, from `prepare_bundled`) with document `template`.

    The train split is embedded in memory on every call, so an encoder without a stable
    fingerprint (a model in training) is measured correctly and no index is written.
    """
    return dict(evaluation.evaluate(encoder, evaluation.build_index(encoder, template, batch_size)))


def triplet_retrieval_metrics(encoder: Encoder, triplets: TripletSet, *, batch_size: int = 64) -> dict[str, Any]:
    """Each distinct query against every positive and negative text of a held-out triplet file."""
    texts = list(dict.fromkeys(t for row in triplets.rows for t in (row.pos, row.neg) if t))
    relevant: dict[str, set[str]] = {}
    for row in triplets.rows:
        relevant.setdefault(row.query, set()).add(row.pos)
    queries = list(relevant)
    scores = encoder.encode(queries, batch_size=batch_size) @ encoder.encode(texts, batch_size=batch_size).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    metrics: dict[str, Any] = retrieval_metrics([[texts[i] for i in row] for row in top], [relevant[q] for q in queries])
    metrics["documents"] = len(texts)
    return metrics


def compare(before: dict[str, Any], after: dict[str, Any], keys: Sequence[str] = TABLE_KEYS) -> list[tuple[str, float, float, float]]:
    """(metric, before, after, after - before) rows for a before/after table."""
    return [(k, float(before[k]), float(after[k]), float(after[k]) - float(before[k])) for k in keys if k in before and k in after]


def is_better(candidate: dict[str, Any], current: dict[str, Any]) -> bool:
    """The candidate wins on MRR@10, Recall@3 breaking a tie; equal is not better."""
    return (candidate[PRIMARY], candidate["recall@3"]) > (current[PRIMARY], current["recall@3"])
