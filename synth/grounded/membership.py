"""Query shapes that pick parents by their children: IN / NOT IN subqueries and set operations
(INTERSECT / EXCEPT / UNION) across a join, each with its question templates.

"Which customers have no orders?", "Which customers have both orders with status 'returned' and
orders with status 'pending'?": the link is a foreign key, as in `synth.grounded.joined`.
"""

from __future__ import annotations

from sqlglot import exp

from synth.grounded.build import column, star_count, table
from synth.grounded.conditions import Condition, equality
from synth.grounded.draw import Candidate, Draw, Shape, cols
from synth.grounded.joined import CHILD, PARENT, joined_select, link_slots, pick_link
from synth.grounded.phrasing import Slots, post, questions

# --- subqueries -------------------------------------------------------------------------------

_IN_ANY = [
    "Which {role_pl} have at least one {child_sg}?",
    "List the {role_pl} that have {child_pl}.",
    "Show the {role_pl} with any {child_pl}.",
    "Which {role_pl} appear in the {child_pl}?",
]
_IN_FILTERED = [
    "Which {role_pl} have {child_pl} {post}?",
    "List the {role_pl} that have at least one {child_sg} {post_sg}.",
    "Find the {role_pl} with {child_pl} {post}.",
    "Show the {role_pl} of {child_pl} {post}.",
]
_NOT_IN_ANY = [
    "Which {role_pl} have no {child_pl}?",
    "List the {role_pl} without any {child_pl}.",
    "Find the {role_pl} that do not have a single {child_sg}.",
    "Which {role_pl} never appear in the {child_pl}?",
    "Show the {role_pl} with no {child_pl}.",
]
_NOT_IN_FILTERED = [
    "Which {role_pl} have no {child_pl} {post}?",
    "List the {role_pl} without any {child_sg} {post_sg}.",
    "Find the {role_pl} that have no {child_pl} {post}.",
]
_NOT_IN_COUNT = [
    "How many {role_pl} have no {child_pl}?",
    "Count the {role_pl} without any {child_pl}.",
    "What is the number of {role_pl} that have no {child_pl}?",
]


def _membership(draw: Draw, negated: bool) -> Candidate | None:
    links = [fk for fk in draw.links if len(fk.columns) == 1]
    if not links:
        return None
    fk = draw.rng.choice(links)
    child, parent = draw.schema.table(fk.table), draw.schema.table(fk.ref_table)
    rng = draw.rng
    key = child.column(fk.columns[0])
    cond = draw.condition(child) if rng.random() < (0.35 if negated else 0.7) else None
    inner = exp.select(column(key.name)).from_(table(child.name))
    filters = [cond.sql()] if cond else []
    if negated and key.nulls:
        filters.append(exp.Not(this=exp.Is(this=column(key.name), expression=exp.Null())))
    if filters:
        inner = inner.where(exp.and_(*filters))
    test: exp.Expression = exp.In(this=column(fk.ref_columns[0]), query=exp.Subquery(this=inner))
    if negated:
        test = exp.Not(this=test)
    slots: Slots = dict(link_slots(fk, child, parent))
    if cond is not None:
        slots.update({"post": lambda: post(cond, rng)[1], "post_sg": lambda: post(cond, rng, singular=True)[1]})
    shape = "not_in_subquery" if negated else "in_subquery"
    if negated and cond is None and rng.random() < 0.25:
        tree = exp.select(star_count()).from_(table(parent.name)).where(test)
        return Candidate(shape, tree, questions(rng, _NOT_IN_COUNT, slots))
    templates = (_NOT_IN_FILTERED if cond else _NOT_IN_ANY) if negated else (_IN_FILTERED if cond else _IN_ANY)
    tree = exp.select(*cols(list(draw.label(parent)))).from_(table(parent.name)).where(test)
    return Candidate(shape, tree, questions(rng, templates, slots))


def in_subquery(draw: Draw) -> Candidate | None:
    return _membership(draw, negated=False)


def not_in_subquery(draw: Draw) -> Candidate | None:
    return _membership(draw, negated=True)


# --- set operations across a join -------------------------------------------------------------

_JOIN_SET_WORDS = {
    "intersect": [
        "Which {role_pl} have both {child_pl} {post1} and {child_pl} {post2}?",
        "List the {role_pl} with {child_pl} {post1} as well as {child_pl} {post2}.",
        "Find the {role_pl} that have at least one {child_sg} {post_sg1} and at least one {post_sg2}.",
    ],
    "except": [
        "Which {role_pl} have {child_pl} {post1} but none {post2}?",
        "List the {role_pl} with {child_pl} {post1} but no {child_pl} {post2}.",
        "Find the {role_pl} that have {child_pl} {post1}, excluding those with {child_pl} {post2}.",
    ],
    "union": [
        "Which {role_pl} have {child_pl} {post1} or {child_pl} {post2}?",
        "List the {role_pl} with {child_a} {post_sg1} or {child_a} {post_sg2}.",
    ],
}
_SET_BUILDERS = {"union": exp.union, "intersect": exp.intersect, "except": exp.except_}


def join_set(draw: Draw) -> Candidate | None:
    """Parents whose children meet one condition and (also / not / or) another:
    "Which customers have both orders with status 'returned' and orders with status 'pending'?"."""
    link = pick_link(draw)
    if link is None:
        return None
    fk, child, parent = link
    rng = draw.rng
    kind = rng.choice(("intersect", "intersect", "except", "union"))
    first = draw.condition(child, CHILD)
    if first is None:
        return None
    second: Condition | None = None
    if first.op == "eq" and len(first.column.values) > 1 and rng.random() < 0.6:
        other = rng.choice([v for v in first.column.values if v != first.values[0]])
        second = equality(child, first.column, other, CHILD)
    else:
        second = draw.condition(child, CHILD, exclude=(first.column,))
    if second is None:
        return None
    label = list(draw.label(parent))
    left = joined_select(fk, child, parent, cols(label, PARENT)).where(first.sql())
    right = joined_select(fk, child, parent, cols(label, PARENT)).where(second.sql())
    slots: Slots = {**link_slots(fk, child, parent), **draw.post_slots(first, "1"), **draw.post_slots(second, "2")}
    return Candidate("join_set", _SET_BUILDERS[kind](left, right), questions(rng, _JOIN_SET_WORDS[kind], slots))


MEMBERSHIP_SHAPES: dict[str, Shape] = {
    "in_subquery": in_subquery,
    "not_in_subquery": not_in_subquery,
    "join_set": join_set,
}
