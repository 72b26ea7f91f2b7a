"""Hard-negative mining with FAISS and the current embedder (reusable: `coderag embedder mine` calls it).

For each (query, positive) pair the miner takes the query's top-k neighbours in a pool of
documents and drops the positive itself (and copies of it or of the query), candidates whose
score is within `margin` of the positive's (likely false negatives, as in NV-Retriever's
positive-aware mining), and candidates a caller-supplied check calls equivalent (for SQL:
the same rows on the example's database). From what is left it samples either uniformly within
a rank range or by a softmax over scores with a temperature, as CoRNStack does.

    miner = HardNegativeMiner(encoder, documents, MiningConfig(strategy="softmax", temperature=0.05))
    with ExecutionEquivalence(positive_sqls, document_sqls, contexts) as same_rows:
        mined = miner.mine(queries, positives, is_false_negative=same_rows)
    mined[0][0].text, mined[0][0].score, mined[0][0].rank
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rag.errors import ConfigError
from rag.execution import has_top_level_order_by
from rag.sqltools import normalize_sql
from synth.sql.context import ExampleDatabase, database_cache
from synth.sql.syntax import same_text


@dataclass(frozen=True)
class MiningConfig:
    """How negatives are picked from the top-k neighbours."""

    top_k: int = 30
    strategy: Literal["rank", "softmax"] = "softmax"
    rank_range: tuple[int, int] = (0, 30)  # [low, high) ranks eligible for the "rank" strategy
    temperature: float = 0.05
    margin: float = 0.05  # drop candidates scoring above positive_score - margin
    num_negatives: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.num_negatives < 0:
            raise ConfigError("mining needs top_k >= 1 and num_negatives >= 0")
        if self.strategy not in ("rank", "softmax"):
            raise ConfigError(f"unknown mining strategy '{self.strategy}' (rank, softmax)")
        if self.temperature <= 0:
            raise ConfigError("the softmax temperature must be positive")
        low, high = self.rank_range
        if not 0 <= low < high:
            raise ConfigError(f"invalid rank range {self.rank_range} (need 0 <= low < high)")


@dataclass(frozen=True)
class MinedNegative:
    index: int  # position in the miner's documents
    text: str
    score: float
    rank: int  # 0-based rank among the query's neighbours


@dataclass
class HardNegativeMiner:
    """A FAISS inner-product index over `documents` embedded by `encoder` (or given `vectors`)."""

    encoder: Any
    documents: Sequence[str]
    config: MiningConfig = field(default_factory=MiningConfig)
    vectors: np.ndarray | None = None
    batch_size: int = 64
    show_progress: bool = False
    report: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        import faiss

        if not self.documents:
            raise ConfigError("hard-negative mining needs a non-empty pool of documents")
        if self.vectors is None:
            self.vectors = self._encode(list(self.documents))
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)
        self._keys = [normalize_sql(d, tokens=False) for d in self.documents]

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size, show_progress=self.show_progress)

    def mine(
        self,
        queries: Sequence[str],
        positives: Sequence[str],
        *,
        query_vectors: np.ndarray | None = None,
        positive_vectors: np.ndarray | None = None,
        is_false_negative: Callable[[int, int], bool] | None = None,
        num_negatives: int | None = None,
    ) -> list[list[MinedNegative]]:
        """Negatives for each (queries[i], positives[i]); `is_false_negative(i, j)` may veto document j."""
        if len(queries) != len(positives):
            raise ConfigError("mining needs one positive per query")
        if not queries:
            return []
        wanted = self.config.num_negatives if num_negatives is None else num_negatives
        qv = self._encode(list(queries)) if query_vectors is None else np.asarray(query_vectors, dtype=np.float32)
        pv = self._encode(list(positives)) if positive_vectors is None else np.asarray(positive_vectors, dtype=np.float32)
        k = min(self.config.top_k + 2, self.index.ntotal)  # room for the positive and the query themselves
        scores, ids = self.index.search(np.ascontiguousarray(qv), k)
        positive_scores = np.einsum("ij,ij->i", qv, pv)
        out = []
        for i in range(len(queries)):
            rng = np.random.default_rng([self.config.seed, i])
            candidates = self._candidates(i, scores[i], ids[i], float(positive_scores[i]), queries[i], positives[i])
            out.append(self._sample(i, candidates, wanted, rng, is_false_negative))
        return out

    def _candidates(
        self, i: int, scores: np.ndarray, ids: np.ndarray, positive_score: float, query: str, positive: str
    ) -> list[MinedNegative]:
        excluded = {normalize_sql(query, tokens=False), normalize_sql(positive, tokens=False)}
        found = []
        rank = 0
        for score, j in zip(scores, ids):
            if j < 0:
                continue
            if self._keys[j] in excluded:
                self.report["excluded: the positive or a copy"] += 1
                continue
            if rank >= self.config.top_k:
                break
            if score > positive_score - self.config.margin:
                self.report["excluded: within the margin of the positive"] += 1
            else:
                found.append(MinedNegative(int(j), self.documents[j], float(score), rank))
            rank += 1
        return found

    def _sample(
        self,
        i: int,
        candidates: list[MinedNegative],
        wanted: int,
        rng: np.random.Generator,
        is_false_negative: Callable[[int, int], bool] | None,
    ) -> list[MinedNegative]:
        if self.config.strategy == "rank":
            low, high = self.config.rank_range
            candidates = [c for c in candidates if low <= c.rank < high]
            order = rng.permutation(len(candidates))
        else:  # softmax sampling without replacement: Gumbel top-k over score / temperature
            logits = np.array([c.score / self.config.temperature for c in candidates])
            order = np.argsort(-(logits + rng.gumbel(size=len(candidates)))) if candidates else np.array([], dtype=int)
        chosen: list[MinedNegative] = []
        seen: set[str] = set()
        for position in order:
            candidate = candidates[int(position)]
            key = self._keys[candidate.index]
            if key in seen:
                continue
            if is_false_negative is not None and is_false_negative(i, candidate.index):
                self.report["excluded: equivalent to the positive"] += 1
                continue
            seen.add(key)
            chosen.append(candidate)
            if len(chosen) >= wanted:
                break
        if len(chosen) < wanted:
            self.report["pairs with fewer negatives than asked"] += 1
        return chosen


def mine_hard_negatives(
    encoder: Any,
    queries: Sequence[str],
    positives: Sequence[str],
    documents: Sequence[str] | None = None,
    *,
    config: MiningConfig | None = None,
    is_false_negative: Callable[[int, int], bool] | None = None,
) -> list[list[MinedNegative]]:
    """One call: mine negatives for each (query, positive) from `documents` (default: the positives)."""
    miner = HardNegativeMiner(encoder, list(documents if documents is not None else dict.fromkeys(positives)), config or MiningConfig())
    return miner.mine(queries, positives, is_false_negative=is_false_negative)


class ExecutionEquivalence:
    """`is_false_negative` for SQL: document j is a false negative for pair i when its SQL returns
    the same rows as pair i's SQL on pair i's database (`contexts[i]`: a gretel script, or
    `db_paths[i]`: a SQLite file), by `rag.execution`'s one definition of the same result (the
    one eval's EX and relevance use). A query that fails there is not equivalent. Use as a
    context manager (it holds in-memory databases)."""

    def __init__(
        self,
        positive_sqls: Sequence[str | None],
        document_sqls: Sequence[str | None],
        contexts: Sequence[str],
        db_paths: Sequence[str | None] | None = None,
    ) -> None:
        self.positive_sqls, self.document_sqls, self.contexts = positive_sqls, document_sqls, contexts
        self.db_paths = db_paths or [None] * len(contexts)
        self.databases = database_cache()
        self._ordered: dict[int, bool] = {}  # pair → whether its SQL sorts its rows (parsed once)

    def __call__(self, i: int, j: int) -> bool:
        mine, theirs = self.positive_sqls[i], self.document_sqls[j]
        if not mine or not theirs:
            return False
        if same_text(mine, theirs):
            return True
        database = ExampleDatabase.of(self.databases, self.contexts[i] or "", self.db_paths[i])
        if database is None:
            return False
        if i not in self._ordered:
            self._ordered[i] = has_top_level_order_by(mine)
        return database.same_result(mine, theirs, ordered=self._ordered[i]) is True

    def close(self) -> None:
        self.databases.close()

    def __enter__(self) -> ExecutionEquivalence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
