"""The retrain loop: train from the current embedder, keep the result only if it retrieves better.

    coderag retrain --data new_triplets.csv [--force]

1. Fine-tune a candidate from the current model (`current_model(settings.embedder.model, settings.models_dir)`) on the new data.
2. Measure both on the bundled test split with the configured document template.
3. If the candidate is better on MRR@10 (Recall@3 breaks a tie), or with --force: move it to
   `models_dir/embedder-vN`, export ONNX when the configured backend needs it, rebuild the
   default index with it, and only then make it current in registry.json. Otherwise delete
   the candidate and keep the current model.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedder.finetune import FinetuneConfig, finetune
from embedder.onnx_export import ensure_export
from embedder.registry import VERSION_PREFIX, add_version, next_version_name
from embedder.retrieval import PRIMARY, compare, is_better
from rag.models import current_model, read_registry
from rag.publish import publish_directory
from rag.settings import Settings


@dataclass
class RetrainResult:
    accepted: bool
    reason: str
    current: str
    candidate_metrics: dict[str, Any]
    current_metrics: dict[str, Any]
    version: str | None = None
    path: Path | None = None
    index: Path | None = None

    def table(self) -> list[tuple[str, float, float, float]]:
        return compare(self.current_metrics, self.candidate_metrics)


def retrain(
    settings: Settings,
    data: Path,
    *,
    force: bool = False,
    epochs: int = 5,
    batch_size: int = 16,
    lr: float = 2e-5,
    loss: str = "mnrl",
    augment: tuple[str, ...] = (),
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> RetrainResult:
    base = current_model(settings.embedder.model, settings.models_dir)
    template = settings.index.template
    models_dir = settings.models_dir
    candidate = models_dir / f".candidate-{time.strftime('%Y%m%d-%H%M%S')}"
    log(f"training a candidate from {base} on {data}")
    result = finetune(
        settings,
        FinetuneConfig(
            data=data,
            out=candidate,
            base=base,
            loss=loss,  # type: ignore[arg-type]
            augment=augment,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            template=template,
            show_progress=show_progress,
        ),
        log=log,
    )
    before, after = result.before["bundled"], result.after["bundled"]
    better = is_better(after, before)
    verdict = (
        f"candidate {PRIMARY} {after[PRIMARY]:.4f} vs current {before[PRIMARY]:.4f}, "
        f"recall@3 {after['recall@3']:.4f} vs {before['recall@3']:.4f}"
    )
    if not (better or force):
        shutil.rmtree(candidate, ignore_errors=True)
        return RetrainResult(False, f"kept {base}: the candidate is not better ({verdict})", base, after, before)

    registry = read_registry(models_dir)
    version = next_version_name(registry)
    path = publish_directory(candidate, models_dir / f"{VERSION_PREFIX}{version}")
    ensure_export(str(path), settings.embedder.backend, models_dir, log=log)
    index = _rebuild_default_index(settings, path, show_progress)
    add_version(models_dir, version, path, result.metadata, make_current=True)
    why = "forced" if force and not better else "better"
    return RetrainResult(True, f"switched to {version} ({why}: {verdict})", base, after, before, version, path, index)


def _rebuild_default_index(settings: Settings, model: Path, show_progress: bool) -> Path:
    """Build the default corpus index with the new model (it is keyed by the model's fingerprint)."""
    from rag.index import index_path
    from rag.wiring import encoder_and_index

    pinned = settings.model_copy(update={"embedder": settings.embedder.model_copy(update={"model": str(model)})})
    encoder, _ = encoder_and_index(pinned, "default", rebuild=True, show_progress=show_progress)
    return index_path(pinned, "default", encoder)
