"""The retrieval metrics as a sentence-transformers evaluator, for model selection during training:

    from eval.st_evaluator import RetrievalEvaluator
    trainer = SentenceTransformerTrainer(model=model, ..., evaluator=RetrievalEvaluator(corpus="bundled", settings=settings))

Relevance is judged once when the evaluator is made; each call embeds the train split in memory
with the model being trained and returns `eval.retrieval`'s metrics, prefixed with `name`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the checker sees the current layout
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
else:
    try:
        from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.evaluation import SentenceEvaluator

from eval.retrieval import PRIMARY_METRIC, RetrievalEvaluation
from rag.encoders import SentenceTransformerEncoder
from rag.settings import Settings


class RetrievalEvaluator(SentenceEvaluator):
    """Recall@k / accuracy@k / MRR@10 of train examples for a corpus's test questions; primary: mrr@10."""

    def __init__(
        self,
        corpus: str = "bundled",
        *,
        settings: Settings,
        template: str | None = None,
        split: str = "test",
        limit: int | None = None,
        batch_size: int = 64,
        name: str = "coderag",
    ) -> None:
        super().__init__()
        self.evaluation = RetrievalEvaluation.prepare(corpus, split=split, settings=settings, limit=limit)
        self.template = template or settings.index.template
        self.batch_size = batch_size
        self.name = name
        self.primary_metric = PRIMARY_METRIC

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        encoder = SentenceTransformerEncoder(name="in-training", fingerprint="in-training", model=model, single_text_threads=None)
        index = self.evaluation.build_index(encoder, self.template, self.batch_size)
        results = self.evaluation.evaluate(encoder, index)
        metrics = {key: float(value) for key, value in results.items() if isinstance(value, (int, float))}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
