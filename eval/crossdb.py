"""Cross-database retrieval: does a question find examples with its SQL structure in *other* databases?

When a question's own database has no stored examples, coderag retrieves from other databases',
and there what helps is an example with the same SQL shape, not one about the same topic.
This evaluation measures exactly that, leave-one-database-out:

- every query question ranks the pool's examples of every *other* database (its own database's
  examples, itself included, are never candidates);
- an example is relevant when its SQL has the query's SQL skeleton (`eval.relevance.sql_skeleton`,
  the one skeleton definition of the project);
- three variants, question against question (DAIL-SQL's selection):
    plain    the questions as written
    masked   both sides masked with their own database's vocabulary (`rag.masking`)
    fused    reciprocal-rank fusion (k=60) of the plain and masked rankings
- metrics are eval.retrieval's (accuracy@k, recall@k, mrr@10); queries with no relevant example
  in another database are left out and counted.

What "one database" is (`group_by`): `db` groups by the database file (or db_id) — Spider-style
corpora; `tables` also joins every two examples whose schemas share a table name, which is what a
database is for gretel-style rows that each carry their own small copy of a domain's schema;
`auto` is `db` when every example has a database file, else `tables`.

    from eval.crossdb import CrossDbEvaluation
    evaluation = CrossDbEvaluation.prepare(queries, pool)
    evaluation.evaluate(encoder)["masked"]["mrr@10"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from eval.relevance import sql_skeleton
from eval.retrieval import retrieval_metrics
from rag.corpus import Example, load_corpus
from rag.documents import render
from rag.errors import DataError
from rag.execution import DatabaseSource
from rag.io import read_json
from rag.masking import MaskingLimits, Vocabulary, VocabularyCache, mask

GroupBy = Literal["auto", "db", "tables"]
VARIANTS = ("documents", "plain", "masked", "fused")
K_VALUES = (1, 3, 10)
RRF_K = 60
DEPTH = 100  # ranks kept per variant (fusion reads this deep)


def database_key(example: Example) -> str:
    """The database an example runs on: its file when it has one, else its db_id."""
    return DatabaseSource(path=example.db_path).key if example.db_path else f"db:{example.db_id}"


def database_groups(examples: Sequence[Example], vocabularies: Sequence[Vocabulary], by: GroupBy = "auto") -> list[int]:
    """A group number per example: examples in one group are "the same database".

    >>> a = Example(id="1", question="q", sql="s", db_id="x", context="")
    >>> b = Example(id="2", question="q", sql="s", db_id="y", context="")
    >>> c = Example(id="3", question="q", sql="s", db_id="z", context="")
    >>> database_groups([a, b, c], [Vocabulary(tables=("Pets",)), Vocabulary(tables=("pets", "owners")), Vocabulary(tables=("cars",))], "tables")
    [0, 0, 1]
    >>> database_groups([a, b, c], [Vocabulary(tables=("Pets",)), Vocabulary(tables=("pets",)), Vocabulary()], "db")
    [0, 1, 2]
    """
    if by == "auto":
        by = "db" if examples and all(e.db_path for e in examples) else "tables"
    if by not in ("db", "tables"):
        raise DataError(f"unknown grouping '{by}' (auto, db, tables)")
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    first: dict[str, int] = {}
    for i, example in enumerate(examples):
        keys = [database_key(example)]
        if by == "tables":
            keys += [f"table:{t.casefold()}" for t in vocabularies[i].tables]
        for key in keys:
            if key in first:
                union(i, first[key])
            else:
                first[key] = i
    numbers: dict[int, int] = {}
    return [numbers.setdefault(find(i), len(numbers)) for i in range(len(examples))]


def spider_table_vocabularies(directory: str | Path) -> dict[str, Vocabulary]:
    """Names per db_id from a Spider-format tables.json (for directories without database files); {} if absent."""
    path = Path(directory) / "tables.json"
    if not path.is_file():
        return {}
    out: dict[str, Vocabulary] = {}
    entries = read_json(path)
    for entry in entries if isinstance(entries, list) else []:
        try:
            tables = [str(t) for t in entry.get("table_names_original") or entry["table_names"]]
            columns = [str(c[1]) for c in entry.get("column_names_original") or entry["column_names"] if c[1] != "*"]
            out[str(entry["db_id"])] = Vocabulary.from_names(tables=tables, columns=columns)
        except (KeyError, TypeError, IndexError, AttributeError):
            continue
    return out


@dataclass
class CrossDbEvaluation:
    """Queries, pool, groups, relevance and masked texts: everything except the encoder."""

    queries: list[Example]
    pool: list[Example]
    query_groups: list[int]
    pool_groups: list[int]
    relevant: list[set[str]]  # per query: pool positions (as strings) with the same skeleton, other databases
    masked_queries: list[str]
    masked_pool: list[str]
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def prepare(
        cls,
        queries: Sequence[Example],
        pool: Sequence[Example] | None = None,
        *,
        group_by: GroupBy = "auto",
        limits: MaskingLimits = MaskingLimits(),
        vocabularies: Mapping[str, Vocabulary] | None = None,
        cache: VocabularyCache | None = None,
    ) -> CrossDbEvaluation:
        """`pool` defaults to the queries themselves. An example in both (same id, question and SQL)
        is read once. `vocabularies` (db_id → names) stands in for databases that cannot be opened."""
        queries = list(queries)
        if not queries:
            raise DataError("no questions to evaluate")
        pool = list(pool) if pool is not None else list(queries)
        everything: list[Example] = []
        position: dict[tuple[str, str, str, str], int] = {}
        for example in [*pool, *queries]:
            key = (example.id, example.question, example.sql, example.db_id)
            if key not in position:
                position[key] = len(everything)
                everything.append(example)
        cache = cache or VocabularyCache(limits)
        given = vocabularies or {}

        def vocabulary(example: Example) -> Vocabulary:
            if example.db_id in given and not (example.db_path and Path(example.db_path).is_file()):
                return given[example.db_id]
            return cache.get(DatabaseSource.for_example(example))

        vocabs = [vocabulary(e) for e in everything]
        groups = database_groups(everything, vocabs, group_by)
        masked = [mask(e.question, v, max_phrase_words=limits.max_phrase_words) for e, v in zip(everything, vocabs)]
        skeletons = [sql_skeleton(e.sql) for e in everything]
        pool_at = [position[(e.id, e.question, e.sql, e.db_id)] for e in pool]
        query_at = [position[(e.id, e.question, e.sql, e.db_id)] for e in queries]
        by_skeleton: dict[str, list[int]] = {}
        for p, at in enumerate(pool_at):
            by_skeleton.setdefault(skeletons[at], []).append(p)
        relevant = [{str(p) for p in by_skeleton.get(skeletons[q], []) if groups[pool_at[p]] != groups[q]} for q in query_at]
        stats = {
            "databases": len(set(groups)),
            "vocabulary_failures": cache.failures,
            "masked_fallbacks": sum(1 for m in masked if m.fell_back),
            "masked_unchanged": sum(1 for m in masked if not m.spans),
        }
        return cls(
            queries=queries,
            pool=pool,
            query_groups=[groups[q] for q in query_at],
            pool_groups=[groups[p] for p in pool_at],
            relevant=relevant,
            masked_queries=[masked[q].text for q in query_at],
            masked_pool=[masked[p].text for p in pool_at],
            stats=stats,
        )

    def rankings(self, encoder: Any, query_texts: list[str], pool_texts: list[str], *, batch_size: int = 64) -> list[list[str]]:
        """Pool positions (as strings) of other databases, best first, `DEPTH` deep, for each query."""
        queries = _unit(encoder.encode(query_texts, batch_size=batch_size))
        pool = _unit(encoder.encode(pool_texts, batch_size=batch_size))
        scores = queries @ pool.T
        same = np.asarray(self.query_groups)[:, None] == np.asarray(self.pool_groups)[None, :]
        scores[same] = -np.inf
        depth = min(DEPTH, scores.shape[1])
        out = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[:depth]
            out.append([str(p) for p in order if np.isfinite(row[p])])
        return out

    def evaluate(self, encoder: Any, *, batch_size: int = 64, rrf_k: int = RRF_K, template: str = "question_sql") -> dict[str, Any]:
        """{variant: eval.retrieval metrics}, plus the counts under "stats". Variants: `documents` (the
        question against the pool rendered with the index's `template`: the fallback as served with
        `retrieval.fallback: plain`), `plain` (question against questions), `masked` (masked question
        against masked questions: `retrieval.fallback: masked`) and `fused` (RRF of plain and masked)."""
        documents = self.rankings(
            encoder, [e.question for e in self.queries], [render(e, template) for e in self.pool], batch_size=batch_size
        )
        plain = self.rankings(encoder, [e.question for e in self.queries], [e.question for e in self.pool], batch_size=batch_size)
        masked = self.rankings(encoder, self.masked_queries, self.masked_pool, batch_size=batch_size)
        fused = [reciprocal_rank_fusion([a, b], k=rrf_k) for a, b in zip(plain, masked)]
        rankings = (documents, plain, masked, fused)
        results: dict[str, Any] = {name: retrieval_metrics(r, self.relevant, K_VALUES) for name, r in zip(VARIANTS, rankings)}
        results["stats"] = {
            **self.stats,
            "queries": len(self.queries),
            "pool": len(self.pool),
            "embedder": getattr(encoder, "name", type(encoder).__name__),
        }
        return results


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> list[str]:
    """Ids ordered by the sum of 1 / (k + rank) over the rankings; ties keep the first ranking's order.

    >>> reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "d"]])
    ['c', 'b', 'a', 'd']
    """
    score: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, 1):
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(doc, len(first_seen))
    return sorted(score, key=lambda d: (-score[d], first_seen[d]))


def _unit(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def load_cross_db(
    corpus: str, split: str = "test", *, home: Path | None = None, limit: int | None = None
) -> tuple[list[Example], list[Example], dict[str, Vocabulary]]:
    """(queries, pool, names by db_id) for a corpus spec: the queries are `split` (first `limit`),
    the pool is every split the corpus has. A Spider-format directory may hold only dev.json; its
    tables.json names the schemas of databases whose files are absent."""
    queries = [e for e in load_corpus(corpus, split, home=home) if e.split == split]
    if not queries:
        raise DataError(f"corpus '{corpus}' has no examples in split '{split}'")
    queries = queries[:limit] if limit else queries
    pool = load_corpus(corpus, None, home=home)
    kind, _, argument = corpus.partition(":")
    names = spider_table_vocabularies(argument) if kind == "spider" and argument else {}
    return queries, pool, names
