"""What every query shape draws with: the schema, a seeded generator and the random choices.

`Draw` picks tables, columns and conditions; `label_columns` decides what names a row (what
"Which customers …?" lists); the small predicates say which columns can be measured, ordered,
grouped or listed; `Candidate` is what a shape returns: the query as a sqlglot AST and its
questions. The shapes themselves are in `synth.grounded.shapes` (one table) and
`synth.grounded.joined` and `synth.grounded.membership` (several).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from rag.schema import Column, DatabaseSchema, Table, label_columns
from rag.words import (
    column_phrase,
    listing,
    phrase_plural,
    possessive,
    words,
)
from synth.grounded.build import column, table
from synth.grounded.conditions import (
    Condition,
    describable,
    draw_condition,
    filterable,
    phrase_of,
)
from synth.grounded.phrasing import post, pred

AGGREGATES = {"avg": exp.Avg, "sum": exp.Sum, "max": exp.Max, "min": exp.Min}


@dataclass
class Candidate:
    """A synthesized query before it is run: its shape, AST and questions."""

    shape: str
    tree: exp.Expression
    questions: list[str]


Shape = Callable[["Draw"], "Candidate | None"]


class Draw:
    """The schema and a seeded generator, with the random choices every shape makes."""

    def __init__(self, schema: DatabaseSchema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self.tables = [t for t in schema.tables if t.rows > 0 and any(describable(c) for c in t.columns)]
        self.labels = {t.name: label_columns(t) for t in schema.tables}
        live = {t.name for t in self.tables}
        self.links = [fk for fk in schema.foreign_keys if fk.table != fk.ref_table and fk.table in live and fk.ref_table in live]
        self.paths = [p for p in schema.join_paths if len(p.tables) == 3 and all(n in live for n in p.tables)]

    def table(self, need: Callable[[Table], bool] = lambda t: True) -> Table | None:
        fitting = [t for t in self.tables if need(t)]
        return self.rng.choice(fitting) if fitting else None

    def column(self, table: Table, need: Callable[[Column], bool], exclude: tuple[Column, ...] = ()) -> Column | None:
        fitting = [c for c in table.columns if need(c) and c not in exclude]
        return self.rng.choice(fitting) if fitting else None

    def condition(self, table: Table, alias: str | None = None, exclude: tuple[Column, ...] = ()) -> Condition | None:
        """A condition on some column of `table` (a few columns are tried)."""
        for _ in range(4):
            col = self.column(table, lambda c: describable(c) or (c.kind == "key" and filterable(c)), exclude)
            if col is None:
                return None
            cond = draw_condition(self.rng, table, col, alias)
            if cond is not None:
                return cond
        return None

    def label(self, table: Table) -> tuple[Column, ...]:
        return self.labels[table.name]

    def projection(self, table: Table, size: int, exclude: tuple[Column, ...] = ()) -> list[Column]:
        """The label columns, then up to `size` − 1 other columns worth showing (not flags)."""
        label = [c for c in self.label(table) if c not in exclude]
        others = [c for c in table.columns if c.kind in ("text", "number", "date") and c not in label and c not in exclude]
        self.rng.shuffle(others)
        return (label + others[: max(0, size - 1)]) if label else others[:size]

    def post_slots(self, cond: Condition, suffix: str = "") -> dict[str, Callable[[], str]]:
        rng = self.rng
        return {
            f"post{suffix}": lambda: post(cond, rng)[1],
            f"post_sg{suffix}": lambda: post(cond, rng, singular=True)[1],
            f"pred{suffix}": lambda: pred(cond, rng),
            f"pred_sg{suffix}": lambda: pred(cond, rng, singular=True),
        }

    def words_from(self, choices: list[str], before: str = "") -> Callable[[], str]:
        """A random word from `choices` on each call; not one that `before` starts with
        ('total' before 'total amount')."""
        fitting = [w for w in choices if not before.lower().startswith(w.lower() + " ")] or choices
        return lambda: self.rng.choice(fitting)


def phrases(table: Table, columns: list[Column], labels: tuple[Column, ...]) -> list[str]:
    """The projected columns in words; a first + last name pair reads as one 'name', and a key
    as what it is ('customer ID', or 'ID' in its own table)."""
    out: list[str] = []
    for c in columns:
        if len(labels) == 2 and c in labels and c.kind == "text":
            if "name" not in out:
                out.append("name")
            continue
        out.append(column_phrase(c.name, table_singular=table.noun.singular) if c.kind == "key" else phrase_of(table, c))
    return out


def column_slots(table: Table, columns: list[Column], labels: tuple[Column, ...]) -> dict[str, str]:
    said = phrases(table, columns, labels)
    return {"cs": listing(said), "cs_pl": listing([phrase_plural(p) for p in said]), "c": said[0], "c_pl": phrase_plural(said[0])}


def noun_slots(table: Table) -> dict[str, str]:
    return {"pl": table.noun.plural, "sg": table.noun.singular, "sg_pos": possessive(table.noun.singular)}


def measure(c: Column) -> bool:
    """A number that adds up or averages: not a key, a flag or a year."""
    return c.kind == "number" and not yearish(c) and c.distinct >= 2


def yearish(c: Column) -> bool:
    ints = [v for v in c.values if isinstance(v, int)]
    named = any(w.lower() in ("year", "founded", "established") for w in words(c.name))
    return named or (bool(ints) and len(ints) == len(c.values) and all(1800 <= v <= 2100 for v in ints))


def orderable(c: Column) -> bool:
    return (c.kind == "number" or c.kind == "date") and c.distinct >= 2


def groupable(c: Column) -> bool:
    """Something rows are counted per: repeated values (a category, a year, a referenced key)."""
    return c.categorical and c.kind in ("text", "number", "date", "key") and not c.pk


def listable(c: Column) -> bool:
    """A column whose distinct values are worth listing or counting (not a yes/no flag)."""
    return c.kind in ("text", "number", "date") and not c.unique and c.distinct >= 2


def select(columns: Sequence[exp.Expr], source: Table, where: exp.Condition | None = None) -> exp.Select:
    query = exp.select(*columns).from_(table(source.name))
    return query.where(where) if where is not None else query


def cols(columns: list[Column], alias: str | None = None) -> list[exp.Expression]:
    return [column(c.name, alias) for c in columns]


def optional(draw: Draw, table: Table, probability: float, exclude: tuple[Column, ...] = ()) -> Condition | None:
    return draw.condition(table, exclude=exclude) if draw.rng.random() < probability else None


def with_post(draw: Draw, cond: Condition | None) -> dict[str, Callable[[], str] | str]:
    """Slots `post_opt` / `post_sg_opt`: ' whose …' when there is a condition, else ''."""
    if cond is None:
        return {"post_opt": "", "post_sg_opt": ""}
    return {"post_opt": lambda: " " + post(cond, draw.rng)[1], "post_sg_opt": lambda: " " + post(cond, draw.rng, singular=True)[1]}
