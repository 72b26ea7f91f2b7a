"""Schema-grounded synthesis: question → SQL examples for one database, each checked by running it.

The loop draws from the shape grammar (`synth.grounded.shapes`, `synth.grounded.joined`,
`synth.grounded.membership`) in a balanced round: the shape with the fewest kept examples goes
next, and a shape that misses `patience` times in a row (nothing applicable, duplicates,
degenerate results) retires. Each candidate is rendered as SQLite, run read-only with a time
limit (`rag.sandbox`), probed for degeneracy (`synth.grounded.checks`), and either kept as a new
example, folded into an earlier example that returns the same result
(`rag.execution.results_match`; its questions join that example's), or rejected with a reason. The user's database is only ever opened read-only.

    result = synthesize_examples("shop.sqlite", max_examples=2000, seed=0)
    result.examples[0].sql, result.examples[0].questions, result.stats.by_shape
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp
from tqdm.auto import tqdm

from rag.describe import introspect
from rag.engines import Database, open_location
from rag.errors import SQLError
from rag.execution import has_top_level_order_by, results_match
from rag.sandbox import QueryResult
from rag.schema import DatabaseSchema
from rag.sqltools import to_dialect
from synth.grounded.checks import (
    degenerate,
    limit_degenerate,
    limit_probe,
    probes,
    result_key,
)
from synth.grounded.draw import Candidate, Draw, Shape
from synth.grounded.joined import JOIN_SHAPES
from synth.grounded.membership import MEMBERSHIP_SHAPES
from synth.grounded.shapes import SINGLE_TABLE_SHAPES
from synth.sql.syntax import parse_query, render

SHAPES: dict[str, Shape] = {**SINGLE_TABLE_SHAPES, **JOIN_SHAPES, **MEMBERSHIP_SHAPES}
MAX_QUESTIONS = 8  # per example, after merging execution-equivalent candidates
PREVIEW_ROWS = 5


@dataclass
class GroundedExample:
    """One kept query with its questions (at least two, worded differently)."""

    sql: str
    questions: list[str]
    shape: str
    columns: list[str]
    rows_preview: list[tuple[Any, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "questions": self.questions,
            "shape": self.shape,
            "columns": self.columns,
            "rows_preview": [list(r) for r in self.rows_preview],
        }


@dataclass
class SynthesisStats:
    """What the run did: examples by shape, candidates tried, kept, merged and rejected (by reason)."""

    by_shape: dict[str, int] = field(default_factory=dict)
    tried: int = 0
    kept: int = 0
    merged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    questions: int = 0
    seconds: float = 0.0
    introspect_seconds: float = 0.0
    stopped: str = ""

    def summary(self) -> str:
        """A few lines for display."""
        shapes = ", ".join(f"{name} {n}" for name, n in sorted(self.by_shape.items(), key=lambda kv: -kv[1]))
        reasons = ", ".join(f"{name} {n}" for name, n in sorted(self.rejected.items(), key=lambda kv: -kv[1]))
        return (
            f"{self.kept} examples, {self.questions} questions in {self.seconds:.1f} s "
            f"(schema {self.introspect_seconds:.2f} s; stopped: {self.stopped})\n"
            f"  by shape: {shapes}\n  tried {self.tried}, merged {self.merged}, rejected: {reasons or 'none'}"
        )


@dataclass
class SynthesisResult:
    examples: list[GroundedExample]
    stats: SynthesisStats
    schema: DatabaseSchema


@dataclass
class _Kept:
    example: GroundedExample
    result: QueryResult
    tables: frozenset[str]
    ordered: bool


class Synthesizer:
    """One run's state: the open database, kept examples, result buckets, used questions."""

    def __init__(self, db: Database, stats: SynthesisStats) -> None:
        self.db = db
        self.stats = stats
        self.kept: list[_Kept] = []
        self.buckets: dict[tuple[int, int, int], list[int]] = {}
        self.seen_sql: set[str] = set()
        self.asked: dict[str, int] = {}  # question (lower case) → index of its example

    def reject(self, reason: str) -> bool:
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        return False

    def run(self, sql: str) -> QueryResult | str:
        try:
            return self.db.execute(to_dialect(sql, self.db.dialect))  # SQLite's SQL, in a URL database's dialect
        except SQLError as exc:
            return "timeout" if exc.kind == "timeout" else "error"

    def offer(self, candidate: Candidate) -> bool:
        """Run the candidate; True when it became a new example."""
        sql = render(candidate.tree)
        if sql in self.seen_sql:
            return self.reject("duplicate_sql")
        self.seen_sql.add(sql)
        if len(candidate.questions) < 2:
            return self.reject("few_questions")
        self.stats.tried += 1
        if parse_query(sql) is None:
            return self.reject("unparsable")
        result = self.run(sql)
        if isinstance(result, str):
            return self.reject(result)
        reason = degenerate(result, candidate.tree) or self._probe(candidate.tree) or self._filter_matters(candidate.tree, result)
        if reason:
            return self.reject(reason)
        return self._keep(candidate, sql, result)

    def _probe(self, tree: exp.Expression) -> str | None:
        for reason, probe in probes(tree):
            found = self.run(render(probe))
            if isinstance(found, str):
                return f"probe_{found}"
            if not found.rows:
                return reason
        limited = limit_probe(tree)
        if limited is not None:
            probe, k = limited
            found = self.run(render(probe))
            if isinstance(found, str):
                return f"probe_{found}"
            return limit_degenerate(found.rows, k)
        return None

    def _filter_matters(self, tree: exp.Expression, result: QueryResult) -> str | None:
        """A DISTINCT list whose filter drops rows may still list every value ("carriers with
        shipments under 100" → all carriers): compare with the list without the filter."""
        if not isinstance(tree, exp.Select) or not tree.args.get("distinct") or tree.args.get("where") is None:
            return None
        unfiltered = tree.copy()
        unfiltered.set("where", None)
        everything = self.run(render(unfiltered))
        if isinstance(everything, str) or everything.truncated or result.truncated:
            return None
        return "filter_changes_nothing" if results_match(everything, result, ordered=False) else None

    def _keep(self, candidate: Candidate, sql: str, result: QueryResult) -> bool:
        tables = frozenset(t.name.lower() for t in candidate.tree.find_all(exp.Table))
        ordered = has_top_level_order_by(sql)
        key = result_key(result)
        # one row (a count, a superlative) often coincides by chance: only lists are merged
        mergeable = len(result.rows) > 1 and not result.truncated
        if mergeable:
            for index in self.buckets.get(key, []):
                twin = self.kept[index]
                if twin.tables == tables and twin.ordered == ordered and results_match(twin.result, result, ordered=ordered):
                    self._merge(index, candidate, sql, result)
                    return self.reject("merged_duplicate")
        fresh = [q for q in candidate.questions if q.lower() not in self.asked]
        if len(fresh) < 2:
            return self.reject("question_clash")
        index = len(self.kept)
        example = GroundedExample(
            sql=sql, questions=fresh, shape=candidate.shape, columns=list(result.columns), rows_preview=list(result.rows[:PREVIEW_ROWS])
        )
        self.kept.append(_Kept(example, result if mergeable else QueryResult(result.columns, []), tables, ordered))
        if mergeable:
            self.buckets.setdefault(key, []).append(index)
        for q in fresh:
            self.asked[q.lower()] = index
        return True

    def _merge(self, index: int, candidate: Candidate, sql: str, result: QueryResult) -> None:
        """Fold an execution-equivalent candidate in: its questions join; the shorter SQL stays."""
        self.stats.merged += 1
        kept = self.kept[index].example
        for q in candidate.questions:
            if q.lower() not in self.asked and len(kept.questions) < MAX_QUESTIONS:
                kept.questions.append(q)
                self.asked[q.lower()] = index
        if len(sql) < len(kept.sql):
            kept.sql, kept.shape, kept.columns = sql, candidate.shape, list(result.columns)
            kept.rows_preview = list(result.rows[:PREVIEW_ROWS])


def synthesize_examples(
    path: str | Path,
    *,
    max_examples: int = 2000,
    seed: int = 0,
    timeout_s: float = 2.0,
    show_progress: bool = True,
    schema: DatabaseSchema | None = None,
    patience: int = 60,
    time_budget_s: float = 120.0,
    max_rows: int = 500,
    allow_privileged_role: bool = False,
) -> SynthesisResult:
    """Question → SQL examples for the SQLite database at `path`, every query run read-only.

    At most `max_examples`, in a balanced mix of shapes; the same `seed` gives the same examples.
    A shape retires after `patience` misses in a row (`patience` // 3 when its misses ran a query).
    Each query must finish within `timeout_s` (and return at most `max_rows` rows to be compared
    with others); the whole run stops after `time_budget_s`. `schema` skips introspection when
    the caller already has it; `allow_privileged_role` lets a server role that may write connect.
    Raises DatabaseError for a missing, non-SQLite or corrupt file.
    """
    started = time.perf_counter()
    if schema is None:
        schema = introspect(path, allow_privileged_role=allow_privileged_role)
    stats = SynthesisStats(introspect_seconds=schema.seconds)
    rng = random.Random(seed)
    draw = Draw(schema, rng)
    kept_by_shape: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    ran_misses: Counter[str] = Counter()
    active = list(SHAPES)
    deadline = started + time_budget_s
    with (
        open_location(path, timeout_s=timeout_s, max_rows=max_rows, allow_privileged_role=allow_privileged_role) as db,
        tqdm(total=max_examples, desc="synthesizing examples", unit="ex", disable=not show_progress) as bar,
    ):
        synthesizer = Synthesizer(db, stats)
        stats.stopped = "cap"
        while len(synthesizer.kept) < max_examples:
            if not active:
                stats.stopped = "exhausted"
                break
            if time.perf_counter() > deadline:
                stats.stopped = "time budget"
                break
            name = min(active, key=lambda s: kept_by_shape[s])
            candidate = SHAPES[name](draw)
            tried = stats.tried
            if candidate is not None and synthesizer.offer(candidate):
                kept_by_shape[name] += 1
                misses[name] = ran_misses[name] = 0
                bar.update(1)
            else:
                if candidate is None:
                    synthesizer.reject("no_candidate")
                misses[name] += 1
                ran_misses[name] += stats.tried > tried
                # a miss that ran costs a query (seconds on a big table): fewer of those are allowed
                if misses[name] >= patience or ran_misses[name] >= patience // 3:
                    active.remove(name)
            if stats.tried % 50 == 0:
                bar.set_postfix(tried=stats.tried, merged=stats.merged, refresh=False)
    examples = [k.example for k in synthesizer.kept]
    stats.kept = len(examples)
    stats.by_shape = dict(Counter(e.shape for e in examples))
    stats.questions = sum(len(e.questions) for e in examples)
    stats.seconds = time.perf_counter() - started
    return SynthesisResult(examples=examples, stats=stats, schema=schema)
