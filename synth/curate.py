"""Curation: deduplication, consistency filtering (CoRNStack) and a diverse pick per category.

- `deduplicate` drops rows whose normalised (query, positive) was seen, whose normalised query
  repeats within a task type, or whose query equals its positive.
- `consistency_filter` keeps a pair only when, under the current embedder, its positive ranks
  within the top-k of the query's neighbours among the task type's positives and scores at least
  a threshold (CoRNStack's dual consistency filter, on the synthetic pairs).
- `select_per_category` picks N rows per category by quality (judge verdict, execution checks,
  a natural hard negative, consistency rank, sane lengths) and diversity: maximal marginal
  relevance over the rows' embeddings, with caps per task type and per source example.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rag.sqltools import normalize_sql
from synth.stats import SynthStats
from synth.task import CATEGORIES
from synth.triplets import Triplet


class EmbeddingCache:
    """Embeds each distinct text once per run (queries, positives and pools share texts)."""

    def __init__(self, encoder: Any, *, batch_size: int = 64, show_progress: bool = True) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], desc: str = "embedding") -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            step = max(self.batch_size * 4, 128)
            with tqdm(total=len(missing), desc=desc, unit="text", disable=not self.show_progress) as bar:
                for start in range(0, len(missing), step):
                    chunk = missing[start : start + step]
                    for text, vector in zip(chunk, self.encoder.encode(chunk, batch_size=self.batch_size)):
                        self._vectors[text] = vector
                    bar.update(len(chunk))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)


def deduplicate(triplets: list[Triplet], stats: SynthStats) -> list[Triplet]:
    """First occurrence wins; drops are counted per category."""
    pairs: set[tuple[str, str]] = set()
    queries: set[tuple[str, str]] = set()
    kept = []
    for t in triplets:
        q, p = normalize_sql(t.query, tokens=False), normalize_sql(t.pos, tokens=False)
        if q == p or (q, p) in pairs or (t.task_type, q) in queries:
            stats.count("duplicates", t.category)
            continue
        pairs.add((q, p))
        queries.add((t.task_type, q))
        kept.append(t)
    return kept


def stable_order(text: str, seed: int) -> str:
    """A seeded, platform-independent sort key for a text."""
    return hashlib.md5(f"{seed}:{text}".encode()).hexdigest()


def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def pools_by_task(
    triplets: list[Triplet], pool_size: int, seed: int, focus: list[Triplet] | None = None, neighbours: int = 8
) -> dict[str, list[Triplet]]:
    """Per task type, one triplet per distinct positive: the neighbours consistency filtering ranks
    against and mining draws from. With `pool_size` > 0 a pool keeps, for each `focus` row, its
    `neighbours` lexically closest positives (word-set Jaccard with its query and positive: the
    candidates that make the filter strict and the negatives hard), then seeded-random others up
    to `pool_size`."""
    pools: dict[str, dict[str, Triplet]] = defaultdict(dict)
    for t in triplets:
        pools[t.task_type].setdefault(normalize_sql(t.pos, tokens=False), t)
    focus_by_task: dict[str, list[Triplet]] = defaultdict(list)
    for t in focus or []:
        focus_by_task[t.task_type].append(t)
    out = {}
    for task, by_key in pools.items():
        ordered = sorted(by_key.values(), key=lambda t: stable_order(t.pos, seed))
        if pool_size <= 0 or len(ordered) <= pool_size:
            out[task] = ordered
            continue
        tokens = [_tokens(t.pos) for t in ordered]
        chosen: dict[int, None] = {}
        for row in focus_by_task[task]:
            mine = _tokens(row.query) | _tokens(row.pos)
            scores = sorted(((len(mine & tk) / (len(mine | tk) or 1), -i) for i, tk in enumerate(tokens)), reverse=True)
            chosen.update((-i, None) for _, i in scores[: neighbours + 1])
        for i in range(len(ordered)):
            if len(chosen) >= pool_size:
                break
            chosen.setdefault(i, None)
        out[task] = [ordered[i] for i in sorted(chosen)]
    return out


def quality(t: Triplet) -> float:
    """Heuristic row quality: checks passed, a natural negative, consistency, sensible lengths."""
    meta = t.meta
    score = 1.0
    score += 0.5 if meta.get("check") in ("gold", "executed") else 0.0
    score += 0.5 if meta.get("verdict") == 1 else 0.0
    score += {"rule": 0.3, "llm": 0.2, "mined": 0.15}.get(meta.get("neg_origin") or "", 0.0)
    if "consistency_rank" in meta and meta.get("consistency_top_k"):
        score += 0.3 * (1 - meta["consistency_rank"] / meta["consistency_top_k"])
    if meta.get("changes_result") is False:
        score -= 0.5
    if not 15 <= len(t.query) <= 900 or not 10 <= len(t.pos) <= 900:
        score -= 1.0
    return score


def shortlist(triplets: list[Triplet], per_category: int, factor: int, seed: int) -> list[Triplet]:
    """Before any embedding: per category, the best rows by `quality`, taken round-robin across
    task types with one row per source, `per_category * factor` of them."""
    out = []
    for category in CATEGORIES:
        rows = [t for t in triplets if t.category == category.value]
        by_task: dict[str, list[Triplet]] = defaultdict(list)
        for t in sorted(rows, key=lambda t: (-quality(t), stable_order(t.source + t.task_type, seed))):
            by_task[t.task_type].append(t)
        queues = [by_task[k] for k in sorted(by_task)]
        wanted = per_category * factor
        used: set[str] = set()
        picked: list[Triplet] = []
        while len(picked) < wanted and any(queues):
            for queue in queues:
                while queue and queue[0].source in used:
                    queue.pop(0)
                if queue and len(picked) < wanted:
                    t = queue.pop(0)
                    used.add(t.source)
                    picked.append(t)
        out.extend(picked)
    return out


@dataclass(frozen=True)
class ConsistencyConfig:
    top_k: int = 10
    threshold: float = 0.2
    pool_size: int = 64


def consistency_filter(
    triplets: list[Triplet], pools: dict[str, list[Triplet]], cache: EmbeddingCache, config: ConsistencyConfig, stats: SynthStats
) -> list[Triplet]:
    """Keep a row when its positive ranks in the top-k of its query's neighbours among the task
    type's pool of positives and its similarity reaches the threshold; the rank and score go to meta."""
    kept = []
    by_task: dict[str, list[Triplet]] = defaultdict(list)
    for t in triplets:
        by_task[t.task_type].append(t)
    for task, rows in by_task.items():
        pool = [p.pos for p in pools.get(task, [])]
        pool_keys = np.array([normalize_sql(p, tokens=False) for p in pool], dtype=object)
        pool_vectors = cache.encode(pool, desc=f"embedding {task} pool")
        queries = cache.encode([t.query for t in rows], desc=f"embedding {task} queries")
        positives = cache.encode([t.pos for t in rows], desc=f"embedding {task} positives")
        for t, q, p in zip(rows, queries, positives):
            score = float(q @ p)
            others = pool_keys != normalize_sql(t.pos, tokens=False)
            higher = int(np.sum((pool_vectors @ q > score) & others)) if len(pool) else 0
            t.meta.update(consistency_rank=higher, consistency_top_k=config.top_k, score=round(score, 4))
            if higher >= config.top_k:
                stats.count("inconsistent", t.category)
                stats.note("consistency: positive outside the top-k")
            elif score < config.threshold:
                stats.count("inconsistent", t.category)
                stats.note("consistency: similarity under the threshold")
            else:
                kept.append(t)
    order = {id(t): i for i, t in enumerate(triplets)}
    return sorted(kept, key=lambda t: order[id(t)])


def select_per_category(
    triplets: list[Triplet], cache: EmbeddingCache, per_category: int, *, diversity: float = 0.4, seed: int = 0
) -> list[Triplet]:
    """N rows per category by maximal marginal relevance: (1 - diversity) × quality − diversity ×
    the highest similarity to a row already picked; at most ceil(N / task types) rows per task
    type, one per rule kind within a task type, one per source within a category and two per
    source overall (all but the last relaxed when a category runs short)."""
    chosen: list[Triplet] = []
    used_sources: Counter = Counter()
    for category in CATEGORIES:
        rows = sorted((t for t in triplets if t.category == category.value), key=lambda t: stable_order(t.source + t.task_type, seed))
        if not rows:
            continue
        q = cache.encode([t.query for t in rows])
        p = cache.encode([t.pos for t in rows])
        pair = q + p
        pair /= np.linalg.norm(pair, axis=1, keepdims=True) + 1e-12
        qualities = np.array([quality(t) for t in rows])
        relevance = qualities / (qualities.max() if qualities.max() > 0 else 1.0)
        task_cap = math.ceil(per_category / len({t.task_type for t in rows}))
        picked: list[int] = []
        for strict in (True, False):
            while len(picked) < per_category:
                best, best_value = None, -math.inf
                per_task = Counter(rows[i].task_type for i in picked)
                per_rule = Counter((rows[i].task_type, rows[i].meta.get("rule")) for i in picked)
                sources = {rows[i].source for i in picked}
                for i, t in enumerate(rows):
                    if i in picked or t.source in sources:
                        continue
                    if strict and (per_task[t.task_type] >= task_cap or used_sources[t.source] >= 2):
                        continue
                    if strict and t.meta.get("rule") and per_rule[(t.task_type, t.meta.get("rule"))] >= 1:
                        continue
                    similarity = float(max(pair[i] @ pair[j] for j in picked)) if picked else 0.0
                    value = (1 - diversity) * relevance[i] - diversity * similarity
                    if value > best_value:
                        best, best_value = i, value
                if best is None:
                    break
                picked.append(best)
        for i in picked:
            used_sources[rows[i].source] += 1
            rows[i].meta["quality"] = round(float(qualities[i]), 3)
            chosen.append(rows[i])
    return chosen
