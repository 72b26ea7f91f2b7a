"""Query shapes over one table, continued: grouping (GROUP BY, HAVING), comparisons with the
table's average, and set operations (UNION, INTERSECT, EXCEPT) on one table.

Like those of `synth.grounded.shapes` (where the registry of one-table shapes lives), each is a
function `(Draw) -> Candidate | None` that builds its query as a sqlglot AST and words it.
"""

from __future__ import annotations

from sqlglot import exp

from rag.words import article, phrase_plural
from synth.grounded.build import column, literal, nice_number, order, star_count
from synth.grounded.conditions import describable, phrase_of
from synth.grounded.draw import (
    AGGREGATES,
    Candidate,
    Draw,
    cols,
    groupable,
    measure,
    noun_slots,
    optional,
    select,
    with_post,
)
from synth.grounded.phrasing import AGGREGATE_WORDS, MOST, Slots, post_pair, questions

# --- grouping ---------------------------------------------------------------------------------

_GROUP_COUNT = [
    "How many {pl}{post_opt} are there for each {g}?",
    "Count the {pl}{post_opt} per {g}.",
    "For each {g}, how many {pl}{post_opt} are there?",
    "What is the number of {pl}{post_opt} in each {g}?",
    "Show the number of {pl}{post_opt} by {g}.",
    "How many {pl}{post_opt} does each {g} have?",
]
_GROUP_AGGREGATE = [
    "What is the {agg} {m} of {pl}{post_opt} for each {g}?",
    "Show the {agg} {m} of {pl}{post_opt} per {g}.",
    "For each {g}, what is the {agg} {m} of the {pl}{post_opt}?",
    "List each {g} with the {agg} {m} of its {pl}{post_opt}.",
    "What is the {agg} {m} of {pl}{post_opt} by {g}?",
]


def group_count(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(groupable(c) for c in t.columns))
    g = draw.column(t, groupable) if t else None
    if t is None or g is None:
        return None
    cond = optional(draw, t, 0.25, exclude=(g,))
    tree = select([column(g.name), star_count()], t, cond.sql() if cond else None).group_by(column(g.name))
    if draw.rng.random() < 0.25:
        tree = tree.order_by(order(star_count(), True))
    slots: Slots = {**noun_slots(t), **with_post(draw, cond), "g": phrase_of(t, g)}
    return Candidate("group_count", tree, questions(draw.rng, _GROUP_COUNT, slots))


def group_aggregate(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(groupable(c) for c in t.columns) and any(measure(c) for c in t.columns))
    g = draw.column(t, groupable) if t else None
    m = draw.column(t, measure, exclude=(g,)) if t and g else None
    if t is None or g is None or m is None:
        return None
    fn = draw.rng.choice(("avg", "avg", "sum", "max", "min"))
    cond = optional(draw, t, 0.2, exclude=(g, m))
    tree = select([column(g.name), AGGREGATES[fn](this=column(m.name))], t, cond.sql() if cond else None)
    tree = tree.group_by(column(g.name))
    slots: Slots = {
        **noun_slots(t),
        **with_post(draw, cond),
        "g": phrase_of(t, g),
        "m": phrase_of(t, m),
        "agg": draw.words_from(AGGREGATE_WORDS[fn], before=phrase_of(t, m)),
    }
    return Candidate("group_aggregate", tree, questions(draw.rng, _GROUP_AGGREGATE, slots))


_GROUP_MOST = {
    False: [
        "Which {g} has the most {pl}?",
        "What is the most common {g} among the {pl}?",
        "Which {g} appears most often among the {pl}?",
        "Which {g} has the largest number of {pl}?",
        "What {g} do most {pl} have?",
    ],
    True: [
        "Which {g} has the fewest {pl}?",
        "What is the least common {g} among the {pl}?",
        "Which {g} appears least often among the {pl}?",
        "Which {g} has the smallest number of {pl}?",
    ],
}
_GROUP_MOST_AGGREGATE = [
    "Which {g} has the {most} {agg} {m}?",
    "What is the {g} whose {pl} have the {most} {agg} {m}?",
    "Find the {g} with the {most} {agg} {m}.",
    "For which {g} is the {agg} {m} the {most}?",
]


def group_superlative(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(groupable(c) for c in t.columns))
    g = draw.column(t, groupable) if t else None
    if t is None or g is None:
        return None
    rng = draw.rng
    ascending = rng.random() < 0.25
    m = draw.column(t, measure, exclude=(g,)) if rng.random() < 0.4 else None
    slots: Slots = {**noun_slots(t), "g": phrase_of(t, g)}
    if m is None:
        metric: exp.Func = star_count()
        templates = _GROUP_MOST[ascending]
    else:
        fn = rng.choice(("avg", "sum"))
        metric = AGGREGATES[fn](this=column(m.name))
        templates = _GROUP_MOST_AGGREGATE
        slots.update(
            {
                "m": phrase_of(t, m),
                "agg": draw.words_from(AGGREGATE_WORDS[fn], before=phrase_of(t, m)),
                "most": draw.words_from(MOST[ascending]),
            }
        )
    tree = select([column(g.name)], t).group_by(column(g.name)).order_by(order(metric, not ascending)).limit(1)
    return Candidate("group_superlative", tree, questions(rng, templates, slots))


_HAVING_COUNT = [
    "Which {g_pl} have {more} {n} {pl}?",
    "List the {g_pl} with {more} {n} {pl}.",
    "Which {g_pl} appear in {more} {n} {pl}?",
    "Show the {g_pl} that have {more} {n} {pl}.",
]
_HAVING_AVERAGE = [
    "Which {g_pl} have an average {m} above {x}?",
    "List the {g_pl} whose average {m} is greater than {x}.",
    "For which {g_pl} is the average {m} higher than {x}?",
    "Show the {g_pl} with an average {m} over {x}.",
]


def having(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(groupable(c) for c in t.columns))
    g = draw.column(t, groupable) if t else None
    if t is None or g is None:
        return None
    rng = draw.rng
    slots: Slots = {**noun_slots(t), "g_pl": phrase_plural(phrase_of(t, g))}
    m = draw.column(t, measure, exclude=(g,)) if rng.random() < 0.4 else None
    if m is None:
        typical = t.rows / max(1, g.distinct)
        n = max(1, int(nice_number(typical * rng.uniform(0.5, 1.3))))
        at_least = rng.random() < 0.4
        condition: exp.Expression = (exp.GTE if at_least else exp.GT)(this=star_count(), expression=literal(n))
        slots.update({"n": str(n), "more": draw.words_from(["at least"] if at_least else ["more than", "over"])})
        templates = _HAVING_COUNT
    else:
        x = nice_number(rng.choice([v for v in m.values if isinstance(v, (int, float))]))
        condition = exp.GT(this=exp.Avg(this=column(m.name)), expression=literal(x))
        slots.update({"m": phrase_of(t, m), "x": str(x)})
        templates = _HAVING_AVERAGE
    tree = select([column(g.name)], t).group_by(column(g.name)).having(condition)
    return Candidate("having", tree, questions(rng, templates, slots))


# --- comparisons with an average, set operations on one table ---------------------------------

_ABOVE = {
    True: [
        "Which {pl} have {a_m} above average?",
        "List the {pl} whose {m} is higher than the average.",
        "Find the {pl} with {a_m} greater than the average {m}.",
        "Which {pl} have more than the average {m}?",
        "Show the {pl} whose {m} exceeds the average {m} of all {pl}.",
    ],
    False: [
        "Which {pl} have {a_m} below average?",
        "List the {pl} whose {m} is lower than the average.",
        "Find the {pl} with {a_m} less than the average {m}.",
        "Which {pl} have less than the average {m}?",
        "Show the {pl} whose {m} is under the average {m} of all {pl}.",
    ],
}
_ABOVE_COUNT = {
    True: [
        "How many {pl} have {a_m} above average?",
        "Count the {pl} whose {m} is higher than the average {m}.",
        "What is the number of {pl} with {a_m} above the average?",
    ],
    False: [
        "How many {pl} have {a_m} below average?",
        "Count the {pl} whose {m} is lower than the average {m}.",
        "What is the number of {pl} with {a_m} below the average?",
    ],
}


def above_average(draw: Draw) -> Candidate | None:
    t = draw.table(lambda t: any(measure(c) for c in t.columns))
    m = draw.column(t, measure) if t else None
    if t is None or m is None:
        return None
    rng = draw.rng
    above = rng.random() < 0.65
    average = exp.Subquery(this=select([exp.Avg(this=column(m.name))], t))
    where = (exp.GT if above else exp.LT)(this=column(m.name), expression=average)
    slots: Slots = {**noun_slots(t), "m": phrase_of(t, m), "a_m": article(phrase_of(t, m))}
    if rng.random() < 0.3:
        return Candidate("above_average", select([star_count()], t, where), questions(rng, _ABOVE_COUNT[above], slots))
    label = draw.label(t)
    chosen = list(label) + ([m] if rng.random() < 0.4 and m not in label else [])
    return Candidate("above_average", select(cols(chosen), t, where), questions(rng, _ABOVE[above], slots))


_SET_WORDS = {
    "union": [
        "Which {pl} {pred1} or {pred2}?",
        "List the {pl} {post_or}.",
        "Show all {pl} that either {pred1} or {pred2}.",
        "Find the {pl} {post1}, together with those {post2}.",
    ],
    "intersect": [
        "Which {pl} {pred1} and also {pred2}?",
        "List the {pl} {post_and}.",
        "Find the {pl} that both {pred1} and {pred2}.",
        "Show the {pl} {post1} that also {pred2}.",
    ],
    "except": [
        "List the {pl} {post1}, excluding those {post2}.",
        "Which {pl} {pred1}, leaving out the ones {post2}?",
        "Show the {pl} {post1} except for those {post2}.",
        "Find the {pl} {post1} but not those {post2}.",
    ],
}
_SET_BUILDERS = {"union": exp.union, "intersect": exp.intersect, "except": exp.except_}


def set_operation(draw: Draw, kind: str) -> Candidate | None:
    """Two filtered selections of one table's names combined: UNION, INTERSECT or EXCEPT."""
    t = draw.table(lambda t: sum(describable(c) for c in t.columns) >= 2)
    if t is None:
        return None
    first = draw.condition(t)
    second = draw.condition(t, exclude=(first.column,) if first and kind != "union" else ()) if first else None
    if first is None or second is None:
        return None
    label = cols(list(draw.label(t)))
    left = select([c.copy() for c in label], t, first.sql())
    right = select([c.copy() for c in label], t, second.sql())
    rng = draw.rng
    slots: Slots = {
        **noun_slots(t),
        **draw.post_slots(first, "1"),
        **draw.post_slots(second, "2"),
        "post_or": lambda: post_pair(first, second, rng, "or"),
        "post_and": lambda: post_pair(first, second, rng, "and"),
    }
    return Candidate(kind, _SET_BUILDERS[kind](left, right), questions(rng, _SET_WORDS[kind], slots))


def union(draw: Draw) -> Candidate | None:
    return set_operation(draw, "union")


def intersect(draw: Draw) -> Candidate | None:
    return set_operation(draw, "intersect")


def except_(draw: Draw) -> Candidate | None:
    return set_operation(draw, "except")
