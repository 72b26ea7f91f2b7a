"""Filter conditions drawn from a column's sampled values: what they mean, and their SQL.

A `Condition` says what it tests (`op`, the column, the values) and renders its SQL on demand;
`synth.grounded.phrasing` says it in words. Values always come from the data (a sampled value,
a round threshold between sampled values, a word of a sampled text), so filters usually keep
some rows and drop others; the synthesizer checks both by running the query.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from rag.schema import Column, Table, key_stem
from rag.words import column_phrase
from synth.grounded.build import column as column_node
from synth.grounded.build import literal, nice_number

# op → weight, per column kind; a weight of 0 leaves the op out
_OPS: dict[str, dict[str, int]] = {
    "text": {"eq": 5, "neq": 0, "in": 0, "contains": 1, "prefix": 1, "suffix": 1},
    "number": {"gt": 3, "lt": 3, "gte": 1, "lte": 1, "between": 2, "eq": 0, "in": 0},
    "date": {"gt": 2, "lt": 2, "between": 1, "year": 3, "eq": 0},
    "boolean": {"true": 3, "false": 2},
    "key": {},
}
_NULL_OPS = {"null": 1, "not_null": 1}
_COMPARISONS = {"eq": exp.EQ, "neq": exp.NEQ, "gt": exp.GT, "lt": exp.LT, "gte": exp.GTE, "lte": exp.LTE}
_LIKE_SAFE = str.maketrans("", "", "%_\\")


@dataclass(frozen=True)
class Condition:
    """`column <op> values`, on the table named by `alias` (None: the query's only table).

    `phrase` is the column in words ('unit price'; for a key, what it refers to: 'advisor').
    """

    op: str
    column: Column
    phrase: str
    values: tuple[Any, ...] = ()
    alias: str | None = None

    @property
    def is_date(self) -> bool:
        return self.column.kind == "date"

    def sql(self) -> exp.Condition:
        """The predicate as a sqlglot node."""
        col = column_node(self.column.name, self.alias)
        op, values = self.op, self.values
        if op in _COMPARISONS:
            return _COMPARISONS[op](this=col, expression=literal(values[0]))
        if op == "between":
            return exp.Between(this=col, low=literal(values[0]), high=literal(values[1]))
        if op == "in":
            return exp.In(this=col, expressions=[literal(v) for v in values])
        if op in ("contains", "prefix", "suffix"):
            pattern = {"contains": "%{}%", "prefix": "{}%", "suffix": "%{}"}[op].format(values[0])
            return exp.Like(this=col, expression=exp.Literal.string(pattern))
        if op == "year":
            year = exp.Anonymous(this="strftime", expressions=[exp.Literal.string("%Y"), col])
            return exp.EQ(this=year, expression=exp.Literal.string(str(values[0])))
        if op in ("null", "not_null"):
            test = exp.Is(this=col, expression=exp.Null())
            return test if op == "null" else exp.Not(this=test)
        if op in ("true", "false"):
            return exp.EQ(this=col, expression=literal(1 if op == "true" else 0))
        raise ValueError(f"unknown condition op {op!r}")


def describable(column: Column) -> bool:
    """Whether a question can mention the column's values (not a key, blob or long text)."""
    return column.kind in ("text", "number", "date", "boolean")


def phrase_of(table: Table, column: Column) -> str:
    """The column in words, relative to its table ('customer_name' in customers → 'name');
    a key by what it refers to ('advisor_id' → 'advisor')."""
    if column.kind == "key" and key_stem(column.name):
        return key_stem(column.name)
    return column_phrase(column.name, table_singular=table.noun.singular)


def filterable(column: Column) -> bool:
    """Whether some condition can be drawn on the column."""
    return bool(_ops(column))


def _ops(column: Column) -> dict[str, int]:
    ops = dict(_OPS.get(column.kind, {}))
    if column.categorical:
        ops.update({k: max(ops[k], w) for k, w in (("eq", 3), ("in", 2), ("neq", 1)) if k in ops})
    if not column.values:
        ops = {}
    if column.nulls and column.sampled:
        ops.update(_NULL_OPS)
    return {k: w for k, w in ops.items() if w > 0}


def draw_condition(rng: random.Random, table: Table, column: Column, alias: str | None = None) -> Condition | None:
    """A random condition on `column` with values from its sample (None when none applies)."""
    weights = _ops(column)
    if not weights:
        return None
    op = rng.choices(list(weights), weights=list(weights.values()))[0]
    values = _values(rng, column, op)
    if values is None:
        return None
    return Condition(op, column, phrase_of(table, column), values, alias)


def equality(table: Table, column: Column, value: Any, alias: str | None = None) -> Condition:
    """`column = value` (a value known to occur, e.g. from one sampled row)."""
    return Condition("eq", column, phrase_of(table, column), (value,), alias)


def _values(rng: random.Random, column: Column, op: str) -> tuple[Any, ...] | None:
    values = [v for v in column.values if v is not None]
    if op in ("null", "not_null", "true", "false"):
        return ()
    if op in ("eq", "neq"):
        return (rng.choice(values),)
    if op == "in":
        return tuple(rng.sample(values, min(len(values), rng.choice((2, 2, 3))))) if len(values) >= 2 else None
    if column.kind == "date":
        return _date_values(rng, [str(v)[:10] for v in values], op)
    if column.kind == "number":
        return _number_values(rng, [v for v in values if isinstance(v, (int, float))], op)
    if op in ("contains", "prefix", "suffix"):
        return _fragment(rng, [str(v) for v in values], op)
    return None


def _number_values(rng: random.Random, numbers: list[float], op: str) -> tuple[Any, ...] | None:
    if len(set(numbers)) < 2:
        return None
    if op == "between":
        low, high = sorted(nice_number(v) for v in rng.sample(numbers, 2))
        return (low, high) if low < high else None
    return (nice_number(rng.choice(numbers)),)


def _date_values(rng: random.Random, dates: list[str], op: str) -> tuple[Any, ...] | None:
    if op == "year":
        years = sorted({d[:4] for d in dates if d[:4].isdigit()})
        return (rng.choice(years),) if years else None
    if len(set(dates)) < 2:
        return None
    if op == "between":
        low, high = sorted(rng.sample(sorted(set(dates)), 2))
        return (low, high)
    return (rng.choice(dates),)


def _fragment(rng: random.Random, texts: list[str], op: str) -> tuple[Any, ...] | None:
    """A word of a sampled value (contains), or its first or last few letters (prefix, suffix)."""
    text = rng.choice(texts).translate(_LIKE_SAFE).strip()
    if len(text) < 3:
        return None
    if op == "contains":
        words = [w for w in text.split() if len(w) >= 3]
        return (rng.choice(words),) if len(words) > 1 else None
    size = rng.randint(1, min(4, len(text) - 1))
    fragment = text[:size] if op == "prefix" else text[-size:]
    return (fragment,) if fragment.strip() == fragment else None
