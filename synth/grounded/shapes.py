"""The grammar of query shapes over one table, each paired with its question templates.

A shape is a function `(Draw) -> Candidate | None`: it picks a table, columns and conditions at
random (through `synth.grounded.draw.Draw`), builds the query as a sqlglot AST and words it
several ways. It returns None when the schema has nothing it can use. Whether the query is
kept (runs in time, returns a non-degenerate result) is decided later by running it
(`synth.grounded.checks`, `synth.grounded.synthesize`). Multi-table shapes are in `synth.grounded.joined` (joins)
and `synth.grounded.membership` (subqueries, set operations across tables); grouping, comparisons with the
average and set operations on one table in `synth.grounded.grouping`.
"""

from __future__ import annotations

import random

from sqlglot import exp

from rag.sampling import quotable
from rag.schema import Table
from rag.words import (
    count_word,
    possessive,
    quote_style,
    quote_value,
)
from synth.grounded.build import column, order, star_count
from synth.grounded.conditions import Condition, describable, equality, phrase_of
from synth.grounded.draw import (
    AGGREGATES,
    Candidate,
    Draw,
    Shape,
    cols,
    column_slots,
    listable,
    measure,
    noun_slots,
    optional,
    orderable,
    phrases,
    select,
    with_post,
    yearish,
)
from synth.grounded.grouping import (
    above_average,
    except_,
    group_aggregate,
    group_count,
    group_superlative,
    having,
    intersect,
    union,
)
from synth.grounded.phrasing import (
    AGGREGATE_WORDS,
    DATE_EXTREMES,
    MOST,
    MOST_DATE,
    Slots,
    post_pair,
    pred_pair,
    questions,
)

EQUALITY_OPS = ("eq", "in", "year", "true", "false", "null")


# --- counting ---------------------------------------------------------------------------------

_COUNT = [
    "How many {pl} are there?",
    "What is the total number of {pl}?",
    "Count the {pl}.",
    "How many {pl} do we have?",
    "Give me the number of {pl}.",
    "What's the count of {pl}?",
    "Number of {pl}?",
]
_COUNT_FILTER = [
    "How many {pl} {pred}?",
    "How many {pl} are there {post}?",
    "Count the {pl} {post}.",
    "What is the number of {pl} {post}?",
    "Tell me how many {pl} {pred}.",
    "Find the number of {pl} {post}.",
]
_COUNT_DISTINCT = [
    "How many different {c_pl} are there among the {pl}?",
    "How many distinct {c_pl} do the {pl} have?",
    "Count the distinct {c_pl} of the {pl}.",
    "What is the number of unique {c_pl} among {pl}?",
    "How many different {c_pl} appear in the {pl}?",
]


def count_rows(draw: Draw) -> Candidate | None:
    t = draw.table()
    if t is None:
        return None
    return Candidate("count", select([star_count()], t), questions(draw.rng, _COUNT, noun_slots(t)))


def count_filtered(draw: Draw) -> Candidate | None:
    t = draw.table()
    cond = draw.condition(t) if t else None
    if t is None or cond is None:
        return None
    slots: Slots = {**noun_slots(t), **draw.post_slots(cond)}
    return Candidate("count_filter", select([star_count()], t, cond.sql()), questions(draw.rng, _COUNT_FILTER, slots))


def count_distinct(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(listable(c) for c in t.columns))
    c = draw.column(t, listable) if t else None
    if t is None or c is None:
        return None
    tree = select([exp.Count(this=exp.Distinct(expressions=[column(c.name)]))], t)
    return Candidate("count_distinct", tree, questions(draw.rng, _COUNT_DISTINCT, {**noun_slots(t), **column_slots(t, [c], ())}))


# --- projections and filters ------------------------------------------------------------------

_LIST_LABEL = [
    "List all {pl}.",
    "Show every {sg}.",
    "What are the {c_pl} of all {pl}?",
    "Give me the {c_pl} of the {pl}.",
    "List the {c_pl} of every {sg}.",
]
_LIST_COLUMNS = [
    "List the {cs_pl} of all {pl}.",
    "What are the {cs_pl} of the {pl}?",
    "Show each {sg_pos} {cs}.",
    "For every {sg}, give the {cs}.",
    "Show the {cs} of each {sg}.",
]
_FILTER_LABEL = [
    "Which {pl} {pred}?",
    "List the {pl} {post}.",
    "Show all {pl} {post}.",
    "What are the {c_pl} of the {pl} {post}?",
    "Find the {pl} {post}.",
    "Give me every {sg} {post_sg}.",
]
_FILTER_COLUMNS = [
    "What are the {cs_pl} of {pl} {post}?",
    "List the {cs_pl} of the {pl} {post}.",
    "Show the {cs} of every {sg} {post_sg}.",
    "For {pl} {post}, list the {cs_pl}.",
    "Give the {cs_pl} of all {pl} {post}.",
]


def _size(rng: random.Random) -> int:
    return rng.choice((1, 1, 2, 2, 3))


def projection(draw: Draw) -> Candidate | None:
    t = draw.table()
    if t is None:
        return None
    chosen = draw.projection(t, _size(draw.rng))
    if not chosen:
        return None
    label = draw.label(t)
    templates = _LIST_LABEL if set(chosen) <= set(label) else _LIST_COLUMNS
    slots = {**noun_slots(t), **column_slots(t, chosen, label)}
    return Candidate("projection", select(cols(chosen), t), questions(draw.rng, templates, slots))


def filtered(draw: Draw) -> Candidate | None:
    t = draw.table()
    cond = draw.condition(t) if t else None
    if t is None or cond is None:
        return None
    chosen = draw.projection(t, _size(draw.rng), exclude=(cond.column,) if cond.op in EQUALITY_OPS else ())
    if not chosen:
        return None
    label = draw.label(t)
    templates = _FILTER_LABEL if set(chosen) <= set(label) else _FILTER_COLUMNS
    slots: Slots = {**noun_slots(t), **column_slots(t, chosen, label), **draw.post_slots(cond)}
    return Candidate("filter", select(cols(chosen), t, cond.sql()), questions(draw.rng, templates, slots))


def two_conditions(draw: Draw, t: Table, conjunction: str) -> tuple[Condition, Condition] | None:
    """Two conditions on different columns; for AND the first one holds on a sampled row."""
    first: Condition | None
    if conjunction == "and" and t.sample:
        row = draw.rng.choice(t.sample)
        known = [c for c, v in zip(t.columns, row) if quotable(v, c.kind) and describable(c) and not c.unique]
        known = [c for c in known if c.categorical] or known
        if not known:
            return None
        first_col = draw.rng.choice(known)
        first = equality(t, first_col, row[t.columns.index(first_col)])
    else:
        first = draw.condition(t)
    second = draw.condition(t, exclude=(first.column,)) if first else None
    return (first, second) if first and second else None


def and_or(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: sum(describable(c) for c in t.columns) >= 2)
    conjunction = draw.rng.choice(("and", "and", "or"))
    pair = two_conditions(draw, t, conjunction) if t else None
    if t is None or pair is None:
        return None
    first, second = pair
    where = (exp.and_ if conjunction == "and" else exp.or_)(first.sql(), second.sql())
    rng = draw.rng
    slots: Slots = {
        **noun_slots(t),
        "post": lambda: post_pair(first, second, rng, conjunction),
        "post_sg": lambda: post_pair(first, second, rng, conjunction, singular=True),
        "pred": lambda: pred_pair(first, second, rng, conjunction),
    }
    if rng.random() < 0.3:
        return Candidate("and_or", select([star_count()], t, where), questions(rng, _COUNT_FILTER, slots))
    exclude = (first.column, second.column) if conjunction == "and" else ()
    chosen = draw.projection(t, _size(rng), exclude=exclude)
    if not chosen:
        return None
    label = draw.label(t)
    templates = _FILTER_LABEL if set(chosen) <= set(label) else _FILTER_COLUMNS
    return Candidate("and_or", select(cols(chosen), t, where), questions(rng, templates, {**slots, **column_slots(t, chosen, label)}))


_LOOKUP = [
    "What is the {cs} of {sg} {v}?",
    "What is {v_pos} {cs}?",
    "Find the {cs} of the {sg} {named} {v}.",
    "Show the {cs} for {sg} {v}.",
    "What {cs} does {sg} {v} have?",
    "Tell me the {cs} of {v}.",
]


def lookup(draw: Draw) -> Candidate | None:
    """One row's other columns, found by its name: "What is the city of customer 'Ana Lima'?"."""
    t = draw.table(
        lambda t: bool(t.sample) and bool(draw.label(t)) and all(c.kind == "text" and c.distinct >= 0.8 * c.sampled for c in draw.label(t))
    )
    if t is None:
        return None
    label = draw.label(t)
    row = draw.rng.choice(t.sample)
    values = [row[t.columns.index(c)] for c in label]
    chosen = draw.projection(t, draw.rng.choice((2, 2, 3)), exclude=label)
    if not all(quotable(v, "text") for v in values) or not chosen:
        return None
    where = exp.and_(*(equality(t, c, v).sql() for c, v in zip(label, values)))
    name = " ".join(str(v) for v in values)
    label_words = " ".join(phrases(t, list(label), label))
    rng = draw.rng
    slots: Slots = {
        **noun_slots(t),
        **column_slots(t, chosen, label),
        "v": lambda: quote_value(name, quote_style(rng)),
        "v_pos": lambda: possessive(quote_value(name, quote_style(rng))),
        "named": "titled" if "title" in label_words else "named" if "name" in label_words else "with " + label_words,
    }
    return Candidate("lookup", select(cols(chosen), t, where), questions(rng, _LOOKUP, slots))


# --- aggregates, superlatives, ordering -------------------------------------------------------

_AGGREGATE = [
    "What is the {agg} {c} of {pl}{post_opt}?",
    "What's the {agg} {c} across all {pl}{post_opt}?",
    "Find the {agg} {c} of the {pl}{post_opt}.",
    "Give me the {agg} {c} among {pl}{post_opt}.",
    "Show the {agg} {c} for {pl}{post_opt}.",
]
_RANGE = [
    "What are the lowest and highest {c} of {pl}{post_opt}?",
    "Show the minimum and maximum {c} among {pl}{post_opt}.",
    "What is the smallest and the largest {c} of the {pl}{post_opt}?",
]


def aggregate(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(orderable(c) for c in t.columns))
    c = draw.column(t, orderable) if t else None
    if t is None or c is None:
        return None
    cond = optional(draw, t, 0.35, exclude=(c,))
    slots: Slots = {**noun_slots(t), **column_slots(t, [c], ()), **with_post(draw, cond)}
    where = cond.sql() if cond else None
    if draw.rng.random() < 0.15:
        tree = select([exp.Min(this=column(c.name)), exp.Max(this=column(c.name))], t, where)
        return Candidate("aggregate", tree, questions(draw.rng, _RANGE, slots))
    names = ["max", "min"] + (["avg", "sum"] if measure(c) else [])
    fn = draw.rng.choice(names)
    slots["agg"] = draw.words_from(DATE_EXTREMES[fn] if c.kind == "date" else AGGREGATE_WORDS[fn], before=str(slots["c"]))
    tree = select([AGGREGATES[fn](this=column(c.name))], t, where)
    return Candidate("aggregate", tree, questions(draw.rng, _AGGREGATE, slots))


_SUPERLATIVE = [
    "Which {sg}{post_sg_opt} has the {most} {c}?",
    "What is the {label} of the {sg}{post_sg_opt} with the {most} {c}?",
    "Find the {sg}{post_sg_opt} with the {most} {c}.",
    "Name the {sg}{post_sg_opt} with the {most} {c}.",
    "Among the {pl}{post_opt}, which one has the {most} {c}?",
]
_TOP_K = [
    "List the {k} {pl}{post_opt} with the {most} {c}.",
    "What are the {k} {pl}{post_opt} with the {most} {c}?",
    "Show the {k} {pl} with the {most} {c}{post_opt}.",
    "Which {k} {pl}{post_opt} have the {most} {c}?",
    "Give me the {k} {pl}{post_opt} with the {most} {c}.",
]
_TOP_K_DESC = ["List the top {k} {pl}{post_opt} by {c}.", "Top {k} {pl}{post_opt} by {c}?"]


def ranked(draw: Draw, k: int) -> Candidate | None:
    """`ORDER BY m [DESC] LIMIT k`: the superlative (k = 1) or the top k."""
    t = draw.table(lambda t: any(orderable(c) for c in t.columns))
    m = draw.column(t, orderable) if t else None
    if t is None or m is None:
        return None
    rng = draw.rng
    ascending = rng.random() < 0.35
    label = draw.label(t)
    chosen = list(label) + ([m] if rng.random() < 0.4 and m not in label else [])
    cond = optional(draw, t, 0.25, exclude=(m, *label))
    where = [cond.sql()] if cond else []
    if ascending and m.nulls:
        where.append(exp.Not(this=exp.Is(this=column(m.name), expression=exp.Null())))
    tree = select(cols(chosen), t, exp.and_(*where) if where else None)
    tree = tree.order_by(order(column(m.name), not ascending)).limit(k)
    most = (MOST_DATE if m.kind == "date" or yearish(m) else MOST)[ascending]
    slots: Slots = {
        **noun_slots(t),
        **column_slots(t, [m], ()),
        **with_post(draw, cond),
        "most": draw.words_from(most),
        "label": phrases(t, list(label), label)[0],
        "k": lambda: count_word(k, rng),
    }
    if k == 1:
        return Candidate("superlative", tree, questions(rng, _SUPERLATIVE, slots))
    return Candidate("top_k", tree, questions(rng, _TOP_K + ([] if ascending else _TOP_K_DESC), slots))


def superlative(draw: Draw) -> Candidate | None:
    return ranked(draw, 1)


def top_k(draw: Draw) -> Candidate | None:
    return ranked(draw, draw.rng.choice((3, 3, 5, 5, 10, 2, 4)))


_ORDERED = [
    "List the {pl}{post_opt} sorted by {c}{direction}.",
    "Show all {pl}{post_opt} ordered by {c}{direction}.",
    "List the {cs_pl} of every {sg}{post_sg_opt}, ordered by {c}{direction}.",
    "Sort the {pl}{post_opt} by {c}{direction}.",
    "Show the {cs_pl} of the {pl}{post_opt}, by {c}{direction}.",
]
_DIRECTIONS = {
    False: ["", " ascending", " in ascending order", " from lowest to highest"],
    True: [" descending", " in descending order", " from highest to lowest"],
}


def ordered(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(orderable(c) for c in t.columns))
    m = draw.column(t, orderable) if t else None
    if t is None or m is None:
        return None
    descending = draw.rng.random() < 0.5
    label = draw.label(t)
    chosen = list(label) + ([m] if m not in label else [])
    cond = optional(draw, t, 0.3, exclude=(m, *label))
    tree = select(cols(chosen), t, cond.sql() if cond else None).order_by(order(column(m.name), descending))
    slots: Slots = {
        **noun_slots(t),
        **column_slots(t, chosen, label),
        **with_post(draw, cond),
        "c": phrase_of(t, m),
        "direction": draw.words_from(_DIRECTIONS[descending]),
    }
    return Candidate("order_by", tree, questions(draw.rng, _ORDERED, slots))


_DISTINCT = [
    "What are the different {c_pl} of the {pl}{post_opt}?",
    "List the distinct {c_pl} of {pl}{post_opt}.",
    "Which {c_pl} do the {pl}{post_opt} have?",
    "Show all unique {c_pl} among {pl}{post_opt}.",
    "What {c_pl} appear among the {pl}{post_opt}?",
]


def distinct(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(listable(c) for c in t.columns))
    c = draw.column(t, listable) if t else None
    if t is None or c is None:
        return None
    cond = optional(draw, t, 0.3, exclude=(c,))
    tree = select(cols([c]), t, cond.sql() if cond else None).distinct()
    slots: Slots = {**noun_slots(t), **column_slots(t, [c], ()), **with_post(draw, cond)}
    return Candidate("distinct", tree, questions(draw.rng, _DISTINCT, slots))


SINGLE_TABLE_SHAPES: dict[str, Shape] = {
    "count": count_rows,
    "count_filter": count_filtered,
    "count_distinct": count_distinct,
    "projection": projection,
    "filter": filtered,
    "and_or": and_or,
    "lookup": lookup,
    "aggregate": aggregate,
    "superlative": superlative,
    "top_k": top_k,
    "order_by": ordered,
    "distinct": distinct,
    "group_count": group_count,
    "group_aggregate": group_aggregate,
    "group_superlative": group_superlative,
    "having": having,
    "above_average": above_average,
    "union": union,
    "intersect": intersect,
    "except": except_,
}
