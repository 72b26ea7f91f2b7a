"""Scoring one prediction against one gold query: EX, EM, EM-AST and an error category.

`Scorer` is the single implementation behind `coderag eval run` and `coderag eval score`, so both
give the same numbers. Within a run it keeps each database open once and each gold query's
result, normalised text and canonical form, so a gold query is run and parsed once however many
predictions are scored against it.

A prediction goes through the chain's own SQL post-processing (`rag.sqltools.postprocess`:
extract, parse, read-only check), then runs on the gold query's database. Categories:
`no_sql`, `parse_error` (does not parse as one SQLite query, or is not read-only),
`execution_error`, `timeout` and `wrong_result`; a correct prediction has none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

from eval.exact import Schema, canonical_sql
from rag.errors import DatabaseError, SQLError
from rag.execution import (
    SCORING_MAX_ROWS,
    DatabaseCache,
    DatabaseSource,
    has_top_level_order_by,
    results_match,
    schema_of,
)
from rag.sandbox import QueryResult
from rag.sqltools import normalize_sql, postprocess

CATEGORIES = ("no_sql", "parse_error", "execution_error", "timeout", "wrong_result")


@dataclass
class Gold:
    """A gold query prepared for scoring; `excluded` says why it cannot be scored, if so."""

    sql: str
    source: DatabaseSource
    result: QueryResult | None = None
    ordered: bool = False
    normalized: str = ""
    canonical: str | None = None
    schema: Schema = field(default_factory=dict)
    excluded: str | None = None


@dataclass
class PairScore:
    """The score of one prediction; `category` is None exactly when `ex` is True."""

    sql: str | None
    ex: bool
    em: bool
    em_ast: bool
    category: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Scorer:
    """EX / EM / EM-AST for prediction–gold pairs, with per-run caches. Use from one thread."""

    def __init__(self, *, timeout_s: float = 5.0, max_rows: int = SCORING_MAX_ROWS, cache_size: int = 256) -> None:
        self.timeout_s = timeout_s
        self.databases = DatabaseCache(timeout_s=timeout_s, max_rows=max_rows, capacity=cache_size)
        self._golds: dict[tuple[str, str], Gold] = {}
        self._schemas: dict[str, Schema] = {}

    def schema(self, source: DatabaseSource) -> Schema:
        """{table: {column: type}} of a source's database (cached)."""
        key = source.key
        if key not in self._schemas:
            self._schemas[key] = schema_of(self.databases.get(source))
        return self._schemas[key]

    def gold(self, sql: str, source: DatabaseSource) -> Gold:
        """Run and prepare a gold query once; a database that does not load or a gold query that
        fails gives a Gold with `excluded` set."""
        key = (source.key, sql)
        if key not in self._golds:
            self._golds[key] = self._prepare_gold(sql, source)
        return self._golds[key]

    def _prepare_gold(self, sql: str, source: DatabaseSource) -> Gold:
        gold = Gold(sql=sql, source=source)
        try:
            database = self.databases.get(source)
        except DatabaseError as exc:
            gold.excluded = f"database does not load: {exc.message}"
            return gold
        try:
            gold.result = database.execute(sql, timeout_s=self.timeout_s)
        except SQLError as exc:
            gold.excluded = f"gold query fails ({exc.kind}): {exc.message}"
            return gold
        gold.schema = self.schema(source)
        gold.ordered = has_top_level_order_by(sql)
        gold.normalized = normalize_sql(sql)
        gold.canonical = canonical_sql(sql, gold.schema)
        return gold

    def score(self, prediction: str | None, gold: Gold) -> PairScore:
        """Score one prediction (raw model text or SQL; None or blank means no SQL)."""
        if gold.excluded or gold.result is None:
            raise ValueError(f"cannot score against an excluded gold query: {gold.excluded}")
        if prediction is None or not prediction.strip():
            return PairScore(sql=None, ex=False, em=False, em_ast=False, category="no_sql", error="no SQL predicted")
        try:
            sql = postprocess(prediction)
        except SQLError as exc:
            category = "no_sql" if exc.kind == "no_sql" else "parse_error"
            return PairScore(sql=prediction.strip(), ex=False, em=False, em_ast=False, category=category, error=exc.message)
        em = normalize_sql(sql) == gold.normalized
        canonical = canonical_sql(sql, gold.schema)
        em_ast = canonical is not None and canonical == gold.canonical
        try:
            result = self.databases.get(gold.source).execute(sql, timeout_s=self.timeout_s)
        except SQLError as exc:
            category = "timeout" if exc.kind == "timeout" else "execution_error"
            return PairScore(sql=sql, ex=False, em=em, em_ast=em_ast, category=category, error=exc.message)
        ex = results_match(gold.result, result, ordered=gold.ordered)
        return PairScore(sql=sql, ex=ex, em=em, em_ast=em_ast, category=None if ex else "wrong_result")

    def close(self) -> None:
        self.databases.close()

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
