"""`coderag retrain --db NAME`: adapt the retriever to one database's own examples.

The seeds' loop on the user's data: triplets from the database's store, fine-tune the current
embedder, and switch only if it retrieves better on a held-back part of the same store.

- The store's synthesized examples are grouped by SQL (a group is one query and its questions).
  From every group with two or more questions one question is held back (a share of the groups,
  seeded); the rest train. Examples a person taught or saved are never trained on: they are
  held-back queries too, when the store has another example with the same SQL.
- A training triplet is (question, a sibling question's document with the same SQL, the closest
  document with different SQL) — the hard negative mined with the current model — in the
  configured document template, capped at `max_triplets` (sampled across groups).
- The yardstick: each held-back question retrieves among the training documents of the store;
  relevant are those with its SQL. MRR@10 decides (Recall@3 breaks a tie), as `retrain` does.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedder.finetune import FinetuneConfig, finetune
from embedder.onnx_export import ensure_export
from embedder.registry import VERSION_PREFIX, add_version, next_version_name
from embedder.retrieval import PRIMARY, compare, is_better
from eval.retrieval import retrieval_metrics
from rag.corpus import Example, store_examples
from rag.documents import render
from rag.encoders import Encoder, load_encoder
from rag.errors import DataError
from rag.models import current_model, read_registry
from rag.publish import publish_directory
from rag.settings import Settings
from rag.sqltools import normalize_sql
from synth.triplets import Triplet, write_triplets

# 500 triplets: 3.6 min on 2 quiet cores, held-back MRR@10 0.676 -> 0.906 on a 6-table store; 2,000 gave
# 0.939 in 18 CPU-minutes (README "Measured"), over the 10-minute budget.
DEFAULT_MAX_TRIPLETS = 500


@dataclass
class DbSplit:
    train: list[Example]
    held_back: list[Example]


@dataclass
class DbRetrainResult:
    accepted: bool
    reason: str
    current: str
    candidate_metrics: dict[str, Any]
    current_metrics: dict[str, Any]
    triplets: int
    version: str | None = None

    def table(self) -> list[tuple[str, float, float, float]]:
        return compare(self.current_metrics, self.candidate_metrics)


def split_store(examples: Sequence[Example], *, held_back_share: float = 0.2, seed: int = 0) -> DbSplit:
    """Held-back questions (one per sampled SQL group, and every person-written one with a sibling) and the rest."""
    rng = random.Random(seed)
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(normalize_sql(example.sql, tokens=False), []).append(example)
    train, held_back = [], []
    for members in groups.values():
        synthesized = [e for e in members if e.meta.get("origin") == "synth"]
        people = [e for e in members if e.meta.get("origin") != "synth"]
        if len(synthesized) >= 2 and rng.random() < held_back_share:
            held_back.append(synthesized.pop(rng.randrange(len(synthesized))))
        train.extend(synthesized)
        held_back.extend(people if synthesized else [])
    return DbSplit(train=train, held_back=held_back)


def db_metrics(encoder: Encoder, split: DbSplit, template: str, *, batch_size: int = 64) -> dict[str, Any]:
    """Each held-back question against the training documents; relevant: the same SQL."""
    documents = [render(e, template) for e in split.train]
    doc_vectors = encoder.encode(documents, batch_size=batch_size)
    query_vectors = encoder.encode([e.question for e in split.held_back], batch_size=batch_size)
    top = np.argsort(-(query_vectors @ doc_vectors.T), axis=1, kind="stable")[:, :10]
    rankings = [[split.train[i].id for i in row] for row in top]
    relevant = [
        {t.id for t in split.train if normalize_sql(t.sql, tokens=False) == normalize_sql(q.sql, tokens=False)} for q in split.held_back
    ]
    metrics: dict[str, Any] = retrieval_metrics(rankings, relevant)
    metrics["queries"] = len(split.held_back)
    return metrics


def db_triplets(
    encoder: Encoder, split: DbSplit, template: str, *, max_triplets: int = DEFAULT_MAX_TRIPLETS, seed: int = 0, batch_size: int = 64
) -> list[Triplet]:
    """(question, a same-SQL sibling's document, the closest different-SQL document) rows, capped."""
    rng = random.Random(seed)
    by_sql: dict[str, list[Example]] = {}
    for example in split.train:
        by_sql.setdefault(normalize_sql(example.sql, tokens=False), []).append(example)
    anchors = [e for e in split.train if len(by_sql[normalize_sql(e.sql, tokens=False)]) >= 2]
    rng.shuffle(anchors)
    anchors = anchors[:max_triplets]
    if not anchors:
        return []
    documents = [render(e, template) for e in split.train]
    doc_vectors = encoder.encode(documents, batch_size=batch_size)
    query_vectors = encoder.encode([e.question for e in anchors], batch_size=batch_size)
    order = np.argsort(-(query_vectors @ doc_vectors.T), axis=1, kind="stable")
    rows = []
    for anchor, ranked in zip(anchors, order):
        key = normalize_sql(anchor.sql, tokens=False)
        sibling = rng.choice([e for e in by_sql[key] if e.id != anchor.id])
        negative = next((split.train[i] for i in ranked[:50] if normalize_sql(split.train[i].sql, tokens=False) != key), None)
        rows.append(
            Triplet(
                query=anchor.question,
                pos=render(sibling, template),
                neg=render(negative, template) if negative else "",
                category="text2code",
                task_type="db_question_to_sql",
                source=f"store:{anchor.db_id}",
            )
        )
    return rows


def retrain_db(
    settings: Settings,
    name: str,
    *,
    force: bool = False,
    max_triplets: int = DEFAULT_MAX_TRIPLETS,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 2e-5,
    seed: int = 0,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> DbRetrainResult:
    examples = [e for e in store_examples(settings.home) if e.db_id == name]
    if not examples:
        raise DataError(
            f"database '{name}' has no stored examples to train on", hint=f"synthesize some with `coderag db add PATH --name {name}`"
        )
    split = split_store(examples, seed=seed)
    if not split.held_back or len(split.train) < 2:
        raise DataError(f"the store of '{name}' is too small to hold some examples back ({len(examples)} examples)")
    template = settings.index.template
    base = current_model(settings.embedder.model, settings.models_dir)
    current = load_encoder(base, models_dir=settings.models_dir)
    before = db_metrics(current, split, template)
    rows = db_triplets(current, split, template, max_triplets=max_triplets, seed=seed)
    if not rows:
        raise DataError(f"the store of '{name}' has no two questions for one query to train on")
    models_dir = settings.models_dir
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data, _ = write_triplets(rows, models_dir / f".candidate-data-{stamp}" / f"{name}-triplets.csv")
    candidate = models_dir / f".candidate-{stamp}"
    log(
        f"fine-tuning {base} on {len(rows)} triplets from '{name}' ({len(split.train)} training and {len(split.held_back)} held-back questions)"
    )
    try:
        result = finetune(
            settings,
            FinetuneConfig(
                data=data,
                out=candidate,
                base=base,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                template=template,
                evaluate=False,
                show_progress=show_progress,
            ),
            log=log,
        )
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    after = db_metrics(load_encoder(str(candidate)), split, template)
    better = is_better(after, before)
    verdict = f"candidate {PRIMARY} {after[PRIMARY]:.4f} vs current {before[PRIMARY]:.4f}, recall@3 {after['recall@3']:.4f} vs {before['recall@3']:.4f}"
    if not (better or force):
        shutil.rmtree(candidate, ignore_errors=True)
        return DbRetrainResult(False, f"kept {base}: the candidate is not better on '{name}' ({verdict})", base, after, before, len(rows))
    version = next_version_name(read_registry(models_dir))
    path = publish_directory(candidate, models_dir / f"{VERSION_PREFIX}{version}")
    ensure_export(str(path), settings.embedder.backend, models_dir, log=log)
    metadata = {**result.metadata, "metrics": {"after": {"bundled": {}, name: after}, "before": {name: before}}}
    add_version(models_dir, version, path, metadata, make_current=True)
    why = "forced" if force and not better else "better"
    return DbRetrainResult(True, f"switched to {version} ({why}: {verdict})", base, after, before, len(rows), version)
