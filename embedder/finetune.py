"""Fine-tune a sentence-transformers bi-encoder on synthetic triplets.

    coderag embedder finetune --data synth/data/curated_triplets.csv --out my-embedder

The sentence-transformers trainer with MultipleNegativesRankingLoss (in-batch negatives, plus
the `neg` column as a hard negative where present), on the file's rows plus, with `augment`,
the structure rows `embedder.augment` derives from them. Retrieval metrics on the bundled test split
are measured before and after training and stored with the model in `training.json`, next to
the data fingerprint and hyperparameters. The output is a standard sentence-transformers
directory: `SentenceTransformer(path)` loads it, and so does `coderag --embedder path`.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from embedder.retrieval import (
    bundled_retrieval_metrics,
    prepare_bundled,
    triplet_retrieval_metrics,
)
from embedder.workdir import prepare_run, start_run
from eval.retrieval import RetrievalEvaluation
from rag.encoders import SentenceTransformerEncoder, load_sentence_transformer
from rag.errors import ConfigError, ModelError
from rag.io import write_json_atomic
from rag.models import model_fingerprint
from rag.publish import publish_directory
from rag.settings import Settings
from synth.triplets import Triplet, TripletSet, load_triplets

LossName = Literal["mnrl", "cached-mnrl", "symmetric"]
LOSSES: tuple[str, ...] = ("mnrl", "cached-mnrl", "symmetric")
METADATA_FILE = "training.json"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "synth" / "data" / "curated_triplets.csv"


@dataclass
class FinetuneConfig:
    """Hyperparameters of one fine-tuning run (the seeds' defaults)."""

    data: Path
    out: Path
    base: str = "bundled"
    loss: LossName = "mnrl"
    augment: tuple[str, ...] = ()  # embedder.augment kinds: skeleton, same_skeleton
    epochs: int = 5
    batch_size: int = 16
    lr: float = 2e-5
    max_seq_length: int = 512
    warmup_ratio: float = 0.1
    seed: int = 42
    template: str | None = None  # document template of the bundled metrics; None: settings.index.template
    eval_data: Path | None = None
    evaluate: bool = True
    save_steps: int = 500  # checkpoints (model + optimizer) for --resume; small runs finish before the first
    resume: bool = False
    overwrite: bool = False
    show_progress: bool = True

    def hyperparameters(self) -> dict[str, Any]:
        keep = ("base", "loss", "augment", "epochs", "batch_size", "lr", "max_seq_length", "warmup_ratio", "seed", "template")
        return {k: v for k, v in asdict(self).items() if k in keep}


@dataclass
class FinetuneResult:
    out: Path
    metadata: dict[str, Any]
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def build_loss(model: Any, name: str, batch_size: int) -> Any:
    """The contrastive loss for `name`; extra columns after (anchor, positive) are hard negatives."""
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    if name == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=max(1, min(32, batch_size)))
    if name == "symmetric":
        return losses.MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
    raise ConfigError(f"unknown loss '{name}' (choose from {', '.join(LOSSES)})")


def to_datasets(rows: list[Triplet]) -> Any:
    """One dataset of (anchor, positive, negative) rows and/or one of (anchor, positive) rows."""
    from datasets import Dataset

    triplets = [r for r in rows if r.neg]
    pairs = [r for r in rows if not r.neg]
    parts: dict[str, Any] = {}
    if triplets:
        parts["triplets"] = Dataset.from_dict(
            {"anchor": [r.query for r in triplets], "positive": [r.pos for r in triplets], "negative": [r.neg for r in triplets]}
        )
    if pairs:
        parts["pairs"] = Dataset.from_dict({"anchor": [r.query for r in pairs], "positive": [r.pos for r in pairs]})
    return next(iter(parts.values())) if len(parts) == 1 else parts


def count_truncated(model: Any, rows: list[Triplet], max_seq_length: int) -> int:
    """How many distinct texts are longer than the token limit (the tokenizer truncates them)."""
    texts = sorted({t for r in rows for t in (r.query, r.pos, r.neg) if t})
    tokenizer = model.tokenizer
    over = 0
    for start in range(0, len(texts), 512):
        lengths = tokenizer(texts[start : start + 512], add_special_tokens=True, truncation=False)["input_ids"]
        over += sum(len(ids) > max_seq_length for ids in lengths)
    return over


def _evaluate(model: Any, yardstick: RetrievalEvaluation | None, template: str, eval_set: TripletSet | None) -> dict[str, Any]:
    """Retrieval metrics of the model being trained: on the bundled test split (`yardstick`) and/or the --eval-data triplets."""
    encoder = SentenceTransformerEncoder(name="training", fingerprint="", model=model)
    metrics: dict[str, Any] = {}
    if yardstick is not None:
        metrics["bundled"] = bundled_retrieval_metrics(encoder, yardstick, template)
    if eval_set is not None:
        metrics["eval_data"] = triplet_retrieval_metrics(encoder, eval_set)
    return metrics


def finetune(settings: Settings, config: FinetuneConfig, log: Callable[[str], None] = print) -> FinetuneResult:
    """Train, evaluate before and after, and publish the model to `config.out` (see module docstring).

    `settings` give the default document template and where the bundled metrics cache relevance.
    """
    if config.loss not in LOSSES:
        raise ConfigError(f"unknown loss '{config.loss}' (choose from {', '.join(LOSSES)})")
    if config.epochs < 1 or config.batch_size < 2 or not config.lr > 0 or config.save_steps < 1:
        raise ConfigError("need --epochs ≥ 1, --batch-size ≥ 2 (in-batch negatives), --lr > 0 and --save-steps ≥ 1")
    template = config.template or settings.index.template
    train_set = load_triplets(config.data)
    if config.augment:
        from embedder.augment import augment

        train_set.extend(augment(train_set.rows, config.augment), "augmented_rows")
    eval_set = load_triplets(config.eval_data) if config.eval_data else None
    work = prepare_run(config.out, overwrite=config.overwrite, resume=config.resume)

    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import PrinterCallback, ProgressCallback

    from embedder.st_trainer import BarOnly, GuardedTrainer, NonFiniteLoss

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, base_name, base_fp = load_sentence_transformer(config.base, device=device, models_dir=settings.models_dir)
    limit = min(config.max_seq_length, _position_limit(model))
    model.max_seq_length = limit
    truncated = count_truncated(model, train_set.rows, limit)
    train_set.extra["truncated_texts"] = truncated
    added = f" + {train_set.extra['augmented_rows']} augmented" if config.augment else ""
    log(
        f"data: {len(train_set.rows)} rows used of {train_set.read}{added} ({len(train_set.with_negatives)} with a hard negative; "
        f"dropped {train_set.empty} empty, {train_set.duplicates} duplicate); {truncated} texts over {limit} tokens truncated"
    )

    yardstick = prepare_bundled(settings) if config.evaluate else None
    before = _evaluate(model, yardstick, template, eval_set)
    start_run(work, resume=config.resume)
    checkpoints = work / "checkpoints"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr,
        warmup_steps=config.warmup_ratio,  # transformers reads a value below 1 as a share of the steps
        seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=10,
        logging_nan_inf_filter=False,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=device == "cuda" and torch.cuda.is_bf16_supported(),
        disable_tqdm=not config.show_progress,
        dataloader_drop_last=False,
    )
    trainer = GuardedTrainer(
        model=model, args=args, train_dataset=to_datasets(train_set.rows), loss=build_loss(model, config.loss, config.batch_size)
    )
    # The stock callbacks print every log dict to stdout; the losses stay in trainer.state.log_history.
    trainer.remove_callback(PrinterCallback)
    if config.show_progress:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(BarOnly())
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=True if config.resume and _has_checkpoint(checkpoints) else None)
    except NonFiniteLoss as exc:
        last = _last_checkpoint(checkpoints)
        kept = f"last good checkpoint kept at {last}" if last else f"no checkpoint yet; run directory kept at {work}"
        raise ModelError(f"training stopped: {exc}; {kept}", hint="lower --lr, then pass --resume or --overwrite") from None
    seconds = time.perf_counter() - started
    after = _evaluate(model, yardstick, template, eval_set)

    built = work / "model"
    if built.exists():
        shutil.rmtree(built)
    model.save(str(built), create_model_card=False)
    metadata = {
        "kind": "fine-tuned",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "base": {"name": base_name, "spec": config.base, "fingerprint": base_fp},
        "data": train_set.summary(),
        "eval_data": eval_set.summary() if eval_set else None,
        "hyperparameters": {**config.hyperparameters(), "template": template, "max_seq_length": limit, "device": device},
        "steps": int(trainer.state.global_step),
        "train_seconds": round(seconds, 1),
        "final_loss": _final_loss(trainer),
        "metrics": {"before": before, "after": after},
        "fingerprint": model_fingerprint(built),
    }
    write_json_atomic(built / METADATA_FILE, metadata)
    publish_directory(built, config.out)
    shutil.rmtree(work, ignore_errors=True)
    return FinetuneResult(out=config.out, metadata=metadata, before=before, after=after)


def _position_limit(model: Any) -> int:
    config = getattr(model[0].auto_model, "config", None)
    return int(getattr(config, "max_position_embeddings", 512) or 512)


def _has_checkpoint(directory: Path) -> bool:
    return _last_checkpoint(directory) is not None


def _last_checkpoint(directory: Path) -> Path | None:
    found = sorted(directory.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return found[-1] if found else None


def _final_loss(trainer: Any) -> float | None:
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    value = losses[-1] if losses else trainer.state.log_history[-1].get("train_loss") if trainer.state.log_history else None
    return None if value is None or not math.isfinite(value) else round(float(value), 5)
