"""Query shapes over several tables: joins along foreign keys (one and two hops), each with its
question templates, and the link helpers the membership shapes (`synth.grounded.membership`) share.

A link is a foreign key, declared or inferred (`rag.describe`): the child table holds
the key, the parent is what it refers to. Questions name the parent by the key's own name when
it says more than the table's ('advisor_id' → teachers reads "advisor"), so "Which students
does advisor 'Ana Lima' have?" is worded from the schema alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot import exp

from rag.sampling import quotable
from rag.schema import (
    Column,
    ForeignKey,
    JoinPath,
    Table,
    key_stem,
)
from rag.words import (
    article,
    count_word,
    phrase_plural,
    possessive,
    quote_style,
    quote_value,
)
from synth.grounded.build import column, join_on, order, star_count, table
from synth.grounded.conditions import equality
from synth.grounded.draw import (
    AGGREGATES,
    Candidate,
    Draw,
    Shape,
    cols,
    column_slots,
    measure,
    phrases,
    with_post,
)
from synth.grounded.phrasing import AGGREGATE_WORDS, MOST, Slots, questions

CHILD, PARENT, THIRD = "T1", "T2", "T3"


def role(fk: ForeignKey, parent: Table) -> str:
    """What the child calls its parent: the key's stem ('advisor') or the parent's noun."""
    stem = key_stem(fk.columns[0]) if len(fk.columns) == 1 else ""
    return stem or parent.noun.singular


def pick_link(draw: Draw) -> tuple[ForeignKey, Table, Table] | None:
    if not draw.links:
        return None
    fk = draw.rng.choice(draw.links)
    return fk, draw.schema.table(fk.table), draw.schema.table(fk.ref_table)


def joined_select(fk: ForeignKey, child: Table, parent: Table, projections: Sequence[exp.Expr]) -> exp.Select:
    on = join_on([column(c, CHILD) for c in fk.columns], [column(c, PARENT) for c in fk.ref_columns])
    return exp.select(*projections).from_(table(child.name, CHILD)).join(table(parent.name, PARENT), on=on)


def _parent_key(fk: ForeignKey, parent: Table) -> list[exp.Expression]:
    return [column(c, PARENT) for c in (parent.primary_key or fk.ref_columns)]


def link_slots(fk: ForeignKey, child: Table, parent: Table) -> dict[str, str]:
    said = role(fk, parent)
    return {
        "child_pl": child.noun.plural,
        "child_sg": child.noun.singular,
        "child_a": article(child.noun.singular),
        "role": said,
        "role_pl": phrase_plural(said),
        "role_pos": possessive(said),
    }


def _name_value(draw: Draw, t: Table, alias: str) -> tuple[exp.Condition, Callable[[], str]] | None:
    """A condition naming one sampled row by its label ('Ana Lima'), and the name as said."""
    label = draw.label(t)
    if not t.sample or not label or any(c.kind != "text" for c in label):
        return None
    row = draw.rng.choice(t.sample)
    values = [row[t.columns.index(c)] for c in label]
    if not all(quotable(v, "text") for v in values):
        return None
    where = exp.and_(*(equality(t, c, v, alias).sql() for c, v in zip(label, values)))
    name = " ".join(str(v) for v in values)
    return where, lambda: quote_value(name, quote_style(draw.rng))


# --- one hop ----------------------------------------------------------------------------------

_OF_NAMED = [
    "Which {child_pl} belong to {role} {v}?",
    "List the {child_pl} of {role} {v}.",
    "What {child_pl} does {role} {v} have?",
    "Show all {child_pl} for {role} {v}.",
    "Give me the {child_pl} linked to {role} {v}.",
]
_OF_NAMED_COLUMNS = [
    "What are the {cs_pl} of the {child_pl} of {role} {v}?",
    "List the {cs_pl} of {child_pl} for {role} {v}.",
    "Show the {cs} of each {child_sg} of {role} {v}.",
    "For {role} {v}, list the {cs_pl} of their {child_pl}.",
]
_OF_FILTERED = [
    "List the {child_pl} of {role_pl} {post}.",
    "Which {child_pl} belong to {role_pl} {post}?",
    "Show the {cs_pl} of {child_pl} whose {role} {pred_sg}.",
    "What are the {cs_pl} of the {child_pl} for {role_pl} {post}?",
]
_PARENTS_OF = [
    "Which {role_pl} have {child_pl} {post}?",
    "List the {role_pl} of {child_pl} {post}.",
    "Show the distinct {role_pl} with at least one {child_sg} {post_sg}.",
    "Find the {role_pl} that have {child_pl} {post}.",
]
_PAIRS = [
    "List each {child_sg}{post_sg_opt} with its {role} {plabel}.",
    "Show every {child_sg}{post_sg_opt} together with the {plabel} of its {role}.",
    "For each {child_sg}{post_sg_opt}, give the {clabel} and the {role_pos} {plabel}.",
    "What is the {role_pos} {plabel} for each {child_sg}{post_sg_opt}?",
]


def join(draw: Draw) -> Candidate | None:
    """One hop along a foreign key: children of a named or filtered parent, parents of filtered
    children, or each child with its parent's name."""
    link = pick_link(draw)
    if link is None:
        return None
    fk, child, parent = link
    rng = draw.rng
    slots: Slots = dict(link_slots(fk, child, parent))
    child_label, parent_label = draw.label(child), draw.label(parent)
    variant = rng.choice(("named", "named", "filtered", "parents", "pairs"))
    if variant == "named":
        named = _name_value(draw, parent, PARENT)
        chosen = draw.projection(child, rng.choice((1, 1, 2)))
        if named is None or not chosen:
            return None
        where, said = named
        templates = _OF_NAMED if set(chosen) <= set(child_label) else _OF_NAMED_COLUMNS
        slots.update({**column_slots(child, chosen, child_label), "v": said})
        return Candidate("join", joined_select(fk, child, parent, cols(chosen, CHILD)).where(where), questions(rng, templates, slots))
    if variant == "filtered":
        cond = draw.condition(parent, PARENT, exclude=parent_label)
        chosen = draw.projection(child, rng.choice((1, 2)))
        if cond is None or not chosen:
            return None
        slots.update({**column_slots(child, chosen, child_label), **draw.post_slots(cond)})
        tree = joined_select(fk, child, parent, cols(chosen, CHILD)).where(cond.sql())
        return Candidate("join", tree, questions(rng, _OF_FILTERED, slots))
    if variant == "parents":
        cond = draw.condition(child, CHILD)
        if cond is None:
            return None
        slots.update(draw.post_slots(cond))
        tree = joined_select(fk, child, parent, cols(list(parent_label), PARENT)).where(cond.sql()).distinct()
        return Candidate("join", tree, questions(rng, _PARENTS_OF, slots))
    cond = draw.condition(child, CHILD) if rng.random() < 0.3 else None
    slots.update(
        {
            **with_post(draw, cond),
            "plabel": phrases(parent, list(parent_label), parent_label)[0],
            "clabel": phrases(child, list(child_label), child_label)[0],
        }
    )
    tree = joined_select(fk, child, parent, cols(list(child_label), CHILD) + cols(list(parent_label), PARENT))
    if cond is not None:
        tree = tree.where(cond.sql())
    return Candidate("join", tree, questions(rng, _PAIRS, slots))


_PER_PARENT = [
    "How many {child_pl} does each {role} have?",
    "For each {role}, count the {child_pl}.",
    "Show the number of {child_pl} per {role}.",
    "List every {role} with its number of {child_pl}.",
    "How many {child_pl} are there for each {role}?",
]
_PER_PARENT_AGGREGATE = [
    "What is the {agg} {m} of {child_pl} for each {role}?",
    "Show the {agg} {m} of the {child_pl} of each {role}.",
    "For each {role}, what is the {agg} {m} of their {child_pl}?",
    "List each {role} with the {agg} {m} of its {child_pl}.",
]


def join_group(draw: Draw) -> Candidate | None:
    """Children counted (or a child measure aggregated) per parent."""
    link = pick_link(draw)
    if link is None:
        return None
    fk, child, parent = link
    rng = draw.rng
    slots: Slots = dict(link_slots(fk, child, parent))
    m = draw.column(child, measure) if rng.random() < 0.4 else None
    if m is None:
        metric: exp.Func = star_count()
        templates = _PER_PARENT
    else:
        fn = rng.choice(("sum", "avg", "avg", "max"))
        metric = AGGREGATES[fn](this=column(m.name, CHILD))
        slots.update({"m": _said(child, m), "agg": draw.words_from(AGGREGATE_WORDS[fn], before=_said(child, m))})
        templates = _PER_PARENT_AGGREGATE
    tree = joined_select(fk, child, parent, cols(list(draw.label(parent)), PARENT) + [metric]).group_by(*_parent_key(fk, parent))
    return Candidate("join_group", tree, questions(rng, templates, slots))


_MOST_CHILDREN = [
    "Which {role} has the most {child_pl}?",
    "Which {role} has the largest number of {child_pl}?",
    "Find the {role} with the most {child_pl}.",
    "What is the {plabel} of the {role} with the most {child_pl}?",
]
_FEWEST_CHILDREN = [
    "Which {role} has the fewest {child_pl}?",
    "Find the {role} with the fewest {child_pl}.",
    "What is the {plabel} of the {role} with the smallest number of {child_pl}?",
]
_MOST_MEASURE = [
    "Which {role} has the {most} {agg} {m} of {child_pl}?",
    "Find the {role} whose {child_pl} have the {most} {agg} {m}.",
    "What is the {plabel} of the {role} with the {most} {agg} {m} of {child_pl}?",
]
_TOP_PARENTS = [
    "List the top {k} {role_pl} by number of {child_pl}.",
    "Which {k} {role_pl} have the most {child_pl}?",
    "Show the {k} {role_pl} with the most {child_pl}.",
]


def join_superlative(draw: Draw) -> Candidate | None:
    """The parent with the most children (or the highest total of a child measure), or the top k."""
    link = pick_link(draw)
    if link is None:
        return None
    fk, child, parent = link
    rng = draw.rng
    parent_label = draw.label(parent)
    slots: Slots = {**link_slots(fk, child, parent), "plabel": phrases(parent, list(parent_label), parent_label)[0]}
    ascending = rng.random() < 0.2
    k = 1
    m = draw.column(child, measure) if rng.random() < 0.35 else None
    if m is None:
        metric: exp.Func = star_count()
        if not ascending and rng.random() < 0.3:
            k = rng.choice((3, 5))
            templates = _TOP_PARENTS
            slots["k"] = lambda: count_word(k, rng)
        else:
            templates = _FEWEST_CHILDREN if ascending else _MOST_CHILDREN
    else:
        fn = rng.choice(("sum", "avg"))
        metric = AGGREGATES[fn](this=column(m.name, CHILD))
        slots.update(
            {
                "m": _said(child, m),
                "agg": draw.words_from(AGGREGATE_WORDS[fn], before=_said(child, m)),
                "most": draw.words_from(MOST[ascending]),
            }
        )
        templates = _MOST_MEASURE
    tree = joined_select(fk, child, parent, cols(list(parent_label), PARENT)).group_by(*_parent_key(fk, parent))
    tree = tree.order_by(order(metric, not ascending)).limit(k)
    return Candidate("join_superlative", tree, questions(rng, templates, slots))


def _said(t: Table, c: Column) -> str:
    return phrases(t, [c], ())[0]


# --- two hops ---------------------------------------------------------------------------------

_THROUGH_NAMED = [
    "Which {far_pl} are linked to {near_sg} {v}?",
    "List the {far_pl} for {near_sg} {v}.",
    "What {far_pl} does {near_sg} {v} have?",
    "Show the {far_pl} associated with {near_sg} {v}.",
]
_THROUGH_FILTERED = [
    "Which {far_pl} have {near_pl} {post}?",
    "List the {far_pl} connected to {near_pl} {post}.",
    "Show the {far_pl} of {near_pl} {post}.",
    "Find the distinct {far_pl} related to {near_pl} {post}.",
]


def _hop(link: ForeignKey, left: tuple[str, str], right: tuple[str, str]) -> exp.Condition:
    """The ON condition of one link between two aliased tables (the link may point either way)."""
    (left_table, left_alias), (_, right_alias) = left, right
    child_alias, parent_alias = (left_alias, right_alias) if link.table == left_table else (right_alias, left_alias)
    return join_on([column(c, child_alias) for c in link.columns], [column(c, parent_alias) for c in link.ref_columns])


def two_hop(draw: Draw) -> Candidate | None:
    """The far table's names reached from a named or filtered near table through a middle one
    (a junction table, or a chain of two keys)."""
    if not draw.paths:
        return None
    path: JoinPath = draw.rng.choice(draw.paths)
    names = list(path.tables)
    links = list(path.links)
    if draw.rng.random() < 0.5:
        names.reverse()
        links.reverse()
    near, middle, far = (draw.schema.table(n) for n in names)
    rng = draw.rng
    far_label = draw.label(far)
    tree = (
        exp.select(*cols(list(far_label), THIRD))
        .from_(table(near.name, CHILD))
        .join(table(middle.name, PARENT), on=_hop(links[0], (near.name, CHILD), (middle.name, PARENT)))
        .join(table(far.name, THIRD), on=_hop(links[1], (middle.name, PARENT), (far.name, THIRD)))
        .distinct()
    )
    slots: Slots = {"far_pl": far.noun.plural, "near_pl": near.noun.plural, "near_sg": near.noun.singular}
    named = _name_value(draw, near, CHILD) if rng.random() < 0.6 else None
    if named is not None:
        where, said = named
        slots["v"] = said
        return Candidate("two_hop", tree.where(where), questions(rng, _THROUGH_NAMED, slots))
    cond = draw.condition(near, CHILD)
    if cond is None:
        return None
    slots.update(draw.post_slots(cond))
    return Candidate("two_hop", tree.where(cond.sql()), questions(rng, _THROUGH_FILTERED, slots))


JOIN_SHAPES: dict[str, Shape] = {
    "join": join,
    "join_group": join_group,
    "join_superlative": join_superlative,
    "two_hop": two_hop,
}
