"""The sentence-transformers trainer with two changes for `embedder.finetune` (imported lazily: it loads torch)."""

from __future__ import annotations

from typing import Any

from sentence_transformers import SentenceTransformerTrainer
from transformers import ProgressCallback


class NonFiniteLoss(RuntimeError):
    """Raised inside the training loop before a NaN/inf loss can reach the weights."""


class GuardedTrainer(SentenceTransformerTrainer):
    """Stops on the first non-finite loss, before the optimizer step can spoil the weights."""

    def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        result = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        loss = result[0] if isinstance(result, tuple) else result
        if model.training and not bool(loss.detach().isfinite().all()):
            raise NonFiniteLoss(f"loss became {float(loss.detach().float().mean())} at step {self.state.global_step + 1}")
        return result


class BarOnly(ProgressCallback):
    """The trainer's progress bar without the log dicts it prints under it (they stay in state.log_history)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        return None
