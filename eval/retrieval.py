"""Retrieval metrics on a corpus's test split: the numbers embedders and document templates are judged by.

The index holds the train split only; the queries are the test questions, embedded the way the
chain embeds them. Relevance is `eval.relevance` (execution-equivalent SQL or the same SQL
skeleton). Test questions with no relevant train example are left out and counted.

Metrics, following sentence-transformers' InformationRetrievalEvaluator:
    accuracy@k   share of questions with at least one relevant example in the top k
    recall@k     mean over questions of |relevant ∩ top k| / |relevant|
    mrr@10       mean reciprocal rank of the first relevant example in the top 10 (0 if none)
The primary metric is mrr@10.

    from eval.retrieval import evaluate_retrieval
    evaluate_retrieval(encoder, corpus="bundled", settings=settings, template="question_sql")["mrr@10"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.relevance import Relevance, judge_relevance, relevance_cache_path
from eval.scoring import Scorer
from rag.corpus import Example, load_corpus
from rag.errors import DataError
from rag.index import VectorIndex, build_options
from rag.settings import Settings

PRIMARY_METRIC = "mrr@10"
K_VALUES = (1, 3, 10)


def retrieval_metrics(
    rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], k_values: Sequence[int] = K_VALUES
) -> dict[str, float]:
    """accuracy@k, recall@k and mrr@10 over queries with at least one relevant id.

    >>> m = retrieval_metrics([["a", "b", "c"], ["x", "y", "z"]], [{"b"}, {"z", "w"}])
    >>> m["accuracy@1"], m["accuracy@3"], m["recall@3"], round(m["mrr@10"], 4)
    (0.0, 1.0, 0.75, 0.4167)
    """
    scored = [(ranking, rel) for ranking, rel in zip(rankings, relevant) if rel]
    metrics: dict[str, float] = {}
    for k in k_values:
        hits = [len(set(ranking[:k]) & rel) for ranking, rel in scored]
        metrics[f"accuracy@{k}"] = float(np.mean([h > 0 for h in hits])) if scored else 0.0
        metrics[f"recall@{k}"] = float(np.mean([h / len(rel) for h, (_, rel) in zip(hits, scored)])) if scored else 0.0
    reciprocal = []
    for ranking, rel in scored:
        rank = next((i for i, doc in enumerate(ranking[:10], 1) if doc in rel), None)
        reciprocal.append(1.0 / rank if rank else 0.0)
    metrics["mrr@10"] = float(np.mean(reciprocal)) if scored else 0.0
    metrics["queries"] = float(len(scored))
    metrics["queries_without_relevant"] = float(len(rankings) - len(scored))
    return metrics


def rank_train_examples(
    index: VectorIndex, encoder: Any, questions: list[str], k: int = 10, batch_size: int = 64
) -> list[list[tuple[str, float]]]:
    """(train id, score) of the top-k documents for each question."""
    if not questions:
        return []
    vectors = encoder.encode(questions, batch_size=batch_size)
    return [[(hit.document.id, hit.score) for hit in hits] for hits in index.search(vectors, k)]


def split_examples(corpus: str, split: str, settings: Settings, limit: int | None = None) -> list[Example]:
    """A corpus split's examples (rows carrying another split are dropped), optionally the first `limit`."""
    examples = [e for e in load_corpus(corpus, split, home=settings.home) if e.split == split]
    if not examples:
        raise DataError(f"corpus '{corpus}' has no examples in split '{split}'")
    return examples[:limit] if limit else examples


def train_examples(corpus: str, test: list[Example], settings: Settings, split: str = "train") -> list[Example]:
    """The train split without any example that is also in the test set (by id or by question + SQL)."""
    held_out = {e.id for e in test} | {(e.question, e.sql) for e in test}
    train = [
        e
        for e in load_corpus(corpus, split, home=settings.home)
        if e.split == split and e.id not in held_out and (e.question, e.sql) not in held_out
    ]
    if not train:
        raise DataError(f"corpus '{corpus}' has no '{split}' examples apart from the test questions to retrieve from")
    return train


def check_index_is_train_only(index: VectorIndex, train: list[Example]) -> bool:
    """True when the index holds exactly the train examples (never the test split)."""
    return sorted(d.id for d in index.documents) == sorted(e.id for e in train)


def train_index(
    settings: Settings, encoder: Any, corpus: str, template: str, train: list[Example], *, show_progress: bool = True
) -> VectorIndex:
    """The saved index of the corpus's train split (built and saved on first use); built in memory
    instead when the saved one holds anything else (e.g. built with --split all), so that test
    questions are never retrieved."""
    from rag.index import get_index

    index = get_index(settings, encoder, corpus, template=template, split="train", show_progress=show_progress)
    if check_index_is_train_only(index, train):
        return index
    index = VectorIndex.build(train, encoder, template, corpus=corpus, show_progress=show_progress, **build_options(settings))
    index.single_query_threads = settings.index.omp_threads_single_query
    return index


@dataclass
class RetrievalEvaluation:
    """Everything a retrieval evaluation needs except the encoder, reusable across encoders/templates."""

    corpus: str
    test: list[Example]
    train: list[Example]
    relevance: Relevance

    @classmethod
    def prepare(
        cls,
        corpus: str = "bundled",
        *,
        settings: Settings,
        split: str = "test",
        limit: int | None = None,
        scorer: Scorer | None = None,
        test: list[Example] | None = None,
        train: list[Example] | None = None,
        show_progress: bool = False,
    ) -> RetrievalEvaluation:
        """Load the test questions and train examples (unless given) and judge relevance (cached)."""
        test = test if test is not None else split_examples(corpus, split, settings, limit)
        train = train if train is not None else train_examples(corpus, test, settings)
        own_scorer = scorer is None
        scorer = scorer or Scorer(timeout_s=settings.execution.timeout_s)
        try:
            relevance = judge_relevance(
                test, train, scorer=scorer, cache_path=relevance_cache_path(settings.home, corpus, train), show_progress=show_progress
            )
        finally:
            if own_scorer:
                scorer.close()
        return cls(corpus=corpus, test=test, train=train, relevance=relevance)

    def build_index(self, encoder: Any, template: str, batch_size: int = 64) -> VectorIndex:
        return VectorIndex.build(self.train, encoder, template, corpus=self.corpus, batch_size=batch_size, show_progress=False)

    def evaluate(self, encoder: Any, index: VectorIndex) -> dict[str, Any]:
        rankings = rank_train_examples(index, encoder, [e.question for e in self.test], k=max(K_VALUES))
        metrics: dict[str, Any] = retrieval_metrics(
            [[doc for doc, _ in ranking] for ranking in rankings], [self.relevance.relevant(e.id) for e in self.test]
        )
        metrics.update(
            primary_metric=PRIMARY_METRIC,
            corpus=self.corpus,
            template=index.manifest.get("template"),
            embedder=getattr(encoder, "name", type(encoder).__name__),
            relevant_by_execution=sum(1 for e in self.test if self.relevance.by_execution.get(e.id)),
            relevant_by_skeleton=sum(1 for e in self.test if self.relevance.by_skeleton.get(e.id)),
        )
        return metrics


def evaluate_retrieval(
    encoder: Any,
    corpus: str = "bundled",
    *,
    settings: Settings,
    template: str | None = None,
    split: str = "test",
    limit: int | None = None,
    index: VectorIndex | None = None,
) -> dict[str, Any]:
    """Recall@1/3/10, accuracy@1/3/10 and MRR@10 of `encoder` retrieving train examples for test questions.

    `encoder` is one of rag.encoders' encoders (`encode`, `name`, `fingerprint`, `dimension`).
    Without `index`, the train split's index for (corpus, template, encoder) is loaded from
    settings.home, or built and saved there on first use, so comparing templates or embedders
    again is cheap. For a model that is still training use `eval.st_evaluator.RetrievalEvaluator`,
    which embeds in memory. The dict names its primary metric under "primary_metric", like
    sentence-transformers evaluators.
    """
    evaluation = RetrievalEvaluation.prepare(corpus, split=split, settings=settings, limit=limit)
    if index is None:
        index = train_index(settings, encoder, corpus, template or settings.index.template, evaluation.train, show_progress=False)
    elif not check_index_is_train_only(index, evaluation.train):
        raise DataError("the index given to evaluate_retrieval does not hold exactly the corpus's train split")
    return evaluation.evaluate(encoder, index)
