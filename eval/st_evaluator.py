"""The retrieval metrics as a sentence-transformers evaluator, for model selection during training:

    from eval.st_evaluator import RetrievalEvaluator
    trainer = SentenceTransformerTrainer(model=model, ..., evaluator=RetrievalEvaluator(corpus="bundled"))

Relevance is judged once when the evaluator is made; each call embeds the train split in memory
with the model being trained and returns `eval.retrieval`'s metrics, prefixed with `name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
except ImportError:  # sentence-transformers < 6
    from sentence_transformers.evaluation import SentenceEvaluator

from eval.retrieval import PRIMARY_METRIC, RetrievalEvaluation
from rag.settings import Settings, load_settings


@dataclass
class ModelEncoder:
    """A SentenceTransformer behind the Encoder interface the index expects (normalised float32)."""

    model: Any
    name: str = "in-training"
    fingerprint: str = "in-training"

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class RetrievalEvaluator(SentenceEvaluator):
    """Recall@k / accuracy@k / MRR@10 of train examples for a corpus's test questions; primary: mrr@10."""

    def __init__(
        self,
        corpus: str = "bundled",
        *,
        template: str | None = None,
        split: str = "test",
        limit: int | None = None,
        settings: Settings | None = None,
        batch_size: int = 64,
        name: str = "coderag",
    ) -> None:
        super().__init__()
        settings = settings or load_settings()
        self.evaluation = RetrievalEvaluation.prepare(corpus, split=split, settings=settings, limit=limit)
        self.template = template or settings.index.template
        self.batch_size = batch_size
        self.name = name
        self.primary_metric = PRIMARY_METRIC

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        encoder = ModelEncoder(model)
        index = self.evaluation.build_index(encoder, self.template, self.batch_size)
        results = self.evaluation.evaluate(encoder, index)
        metrics = {key: float(value) for key, value in results.items() if isinstance(value, (int, float))}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
