"""Hard-negative refresh: mine new negatives for a triplet file with the current model.

    coderag embedder mine --model models/v1 --data triplets.csv --out triplets-mined.csv
    coderag embedder train --base models/v1 --data triplets-mined.csv --out v2

The mining itself is the synthesis module's FAISS miner (`synth.mining.HardNegativeMiner`:
positive-aware margin, softmax or rank sampling). Here it runs once per category, so that the
candidates for a row are the positives of the other rows of its kind (SQL for question → SQL
rows, questions for SQL → question rows); a query's own positives are never its negatives.
Rows without a usable candidate keep their old negatives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rag.encoders import Encoder


def refresh_negatives(encoder: Encoder, triplets: list[Any], config: Any, origin: str, *, show_progress: bool = False) -> Counter:
    """Replace each synth `Triplet`'s negatives in place with freshly mined ones; returns counts."""
    from synth.mining import HardNegativeMiner

    counts: Counter = Counter()
    groups: dict[str, list[Any]] = {}
    for triplet in triplets:
        if triplet.query and triplet.pos:
            groups.setdefault(triplet.category, []).append(triplet)
        else:
            counts["rows skipped (empty query or positive)"] += 1
    for rows in groups.values():
        pool = list(dict.fromkeys(t.pos for t in rows))
        if len(pool) < 2:
            counts["rows kept (no other positive of their category)"] += len(rows)
            continue
        own: dict[str, set[str]] = {}
        for t in rows:
            own.setdefault(t.query, set()).add(t.pos)
        miner = HardNegativeMiner(encoder, pool, config, show_progress=show_progress)
        where = {text: i for i, text in enumerate(pool)}
        queries = [t.query for t in rows]
        assert miner.vectors is not None  # embedded when the miner is made
        mined = miner.mine(
            queries,
            [t.pos for t in rows],
            positive_vectors=miner.vectors[[where[t.pos] for t in rows]],
            is_false_negative=_own_positive(pool, own, queries),
        )
        for triplet, negatives in zip(rows, mined):
            if not negatives:
                counts["rows kept (no candidate outside the margin)"] += 1
                continue
            before = triplet.neg
            triplet.set_negatives([n.text for n in negatives], origin)
            counts["rows mined"] += 1
            counts["rows with a new first negative"] += triplet.neg != before
        counts.update(miner.report)
    return counts


def _own_positive(pool: list[str], own: dict[str, set[str]], queries: list[str]) -> Callable[[int, int], bool]:
    """Whether pool document j is one of query i's own positives, so never its negative."""
    return lambda i, j: pool[j] in own[queries[i]]
