"""Injected bugs: a flipped comparison, a swapped aggregate, a reversed sort, a lost condition,
another join type, an off-by-one limit, a missing DISTINCT.

Each mutator says where it applies (`applies`) and makes the bug in place (`apply`); a site is
(node position in walk order, mutator number), so a bug can be applied to a fresh copy of the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from synth.sql.context import Change, SqlContext
from synth.sql.syntax import Query, nodes, render, same_text
from synth.sql.wording import (
    AGGREGATES,
    FLIPPED,
    OPS,
    SWAPPED,
    describe_condition,
    rows,
    words,
)


@dataclass(frozen=True)
class Mutator:
    """One kind of bug: where it can go (`applies` to a node) and how to make it (`apply` in place)."""

    kind: str
    applies: Callable[[exp.Expression], bool]
    apply: Callable[[exp.Expression, exp.Expression], Change | None]


def _column_pair(node: exp.Expression) -> bool:
    """`a.k = b.k`: a join or correlation condition, not a filter a person would describe."""
    return isinstance(node.this, exp.Column) and isinstance(node.args.get("expression"), exp.Column)


def _filter_comparison(node: exp.Expression) -> bool:
    if type(node) not in FLIPPED or _column_pair(node):
        return False
    return isinstance(node.find_ancestor(exp.Where, exp.Having, exp.Join), (exp.Where, exp.Having))


def _flip_comparison(root: exp.Expression, node: exp.Expression) -> Change:
    new_type = FLIPPED[type(node)]
    good, bad = OPS[type(node)], OPS[new_type]
    lhs, rhs = words(node.this), words(node.expression)
    scope = "groups" if node.find_ancestor(exp.Having) is not None else "rows"
    node.replace(new_type(this=node.this.copy(), expression=node.expression.copy()))
    return Change(
        kind="flipped_comparison",
        sql=render(root),
        bug=f"keeps {scope} where {lhs} is {bad} {rhs} instead of {good} {rhs}",
        diff=f"keeps {scope} where {lhs} is {bad} {rhs}, while the first keeps those where it is {good} {rhs}",
    )


def _swap_aggregate(root: exp.Expression, node: exp.Expression) -> Change:
    new_type = SWAPPED[type(node)]
    good, bad = AGGREGATES[type(node)][1], AGGREGATES[new_type][1]
    arg = words(node.this)
    node.replace(new_type(this=node.this.copy()))
    return Change(
        kind="swapped_aggregate",
        sql=render(root),
        bug=f"computes the {bad} of {arg} instead of the {good}",
        diff=f"computes the {bad} of {arg}, while the first computes the {good}",
    )


def _flip_order(root: exp.Expression, node: exp.Expression) -> Change:
    desc = bool(node.args.get("desc"))
    good, bad = ("descending", "ascending") if desc else ("ascending", "descending")
    col = words(node.this)
    node.set("desc", not desc)
    node.set("nulls_first", desc)  # SQLite's own default: NULLs first when ascending
    where = "within each partition " if node.find_ancestor(exp.Window) is not None else ""
    return Change(
        kind="flipped_order",
        sql=render(root),
        bug=f"orders {where}by {col} in {bad} order instead of {good} order",
        diff=f"orders {where}by {col} in {bad} order, while the first uses {good} order",
    )


def _droppable(node: exp.Expression) -> bool:
    parent = node.parent
    if isinstance(node, (exp.And, exp.Or, exp.Paren)) or parent is None or (type(node) in FLIPPED and _column_pair(node)):
        return False
    if isinstance(parent, exp.Where):
        return True
    return isinstance(parent, exp.And) and (isinstance(parent.parent, exp.Where) or isinstance(parent.parent, exp.And))


def _drop_condition(root: exp.Expression, node: exp.Expression) -> Change | None:
    where = node.find_ancestor(exp.Where)
    if where is None:
        return None
    described = describe_condition(node)
    if node.parent is where:
        where.pop()
    else:
        parent = node.parent
        if not isinstance(parent, exp.And):
            return None
        sibling = parent.expression if node is parent.this else parent.this
        parent.replace(sibling.copy())
    return Change(
        kind="dropped_condition",
        sql=render(root),
        bug=f"is missing {described}, so rows that should be filtered out are returned",
        diff=f"drops {described}, which the first query applies",
    )


def _switch_join(root: exp.Expression, node: exp.Expression) -> Change | None:
    table = words(node.this) if not isinstance(node.this, exp.Table) else node.this.name
    if (node.args.get("side") or "").upper() == "LEFT":
        node.set("side", None)
        node.set("kind", "INNER")
        bug = f"uses an inner join with {table} instead of a left join, so rows without a matching {table} row are lost"
        diff = f"uses an inner join with {table}, so it drops rows without a matching {table} row that the first query keeps"
    elif (node.args.get("kind") or "INNER").upper() == "INNER" and not node.args.get("side") and node.args.get("on"):
        node.set("kind", None)
        node.set("side", "LEFT")
        bug = f"uses a left join with {table} instead of an inner join, so rows without a matching {table} row are kept"
        diff = f"uses a left join with {table}, so it also keeps rows without a matching {table} row"
    else:
        return None
    return Change(kind="switched_join", sql=render(root), bug=bug, diff=diff)


def _shift_limit(root: exp.Expression, node: exp.Expression) -> Change | None:
    value = node.expression
    if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
        return None
    good = int(value.this)
    bad = good + 1 if good <= 1 else good - 1
    node.set("expression", exp.Literal.number(bad))
    return Change(
        kind="shifted_limit",
        sql=render(root),
        bug=f"returns up to {rows(bad)} instead of {good}",
        diff=f"returns up to {rows(bad)}, while the first returns up to {good}",
    )


def _drop_distinct(root: exp.Expression, node: exp.Expression) -> Change:
    node.set("distinct", None)
    return Change(
        kind="dropped_distinct",
        sql=render(root),
        bug="does not remove duplicate rows because DISTINCT is missing",
        diff="does not remove duplicate rows, while the first uses DISTINCT",
    )


MUTATORS: tuple[Mutator, ...] = (
    Mutator("flipped_comparison", _filter_comparison, _flip_comparison),
    Mutator("swapped_aggregate", lambda n: type(n) in SWAPPED, _swap_aggregate),
    Mutator("flipped_order", lambda n: isinstance(n, exp.Ordered), _flip_order),
    Mutator("dropped_condition", _droppable, _drop_condition),
    Mutator("switched_join", lambda n: isinstance(n, exp.Join), _switch_join),
    Mutator("shifted_limit", lambda n: isinstance(n, exp.Limit), _shift_limit),
    Mutator("dropped_distinct", lambda n: isinstance(n, exp.Select) and bool(n.args.get("distinct")), _drop_distinct),
)


def mutation_sites(tree: exp.Expression) -> list[tuple[int, int]]:
    """(node position in walk order, mutator number) for every place a known bug can be injected."""
    return [(index, number) for index, node in enumerate(nodes(tree)) for number, m in enumerate(MUTATORS) if m.applies(node)]


def apply_mutation(query: Query, site: tuple[int, int]) -> Change | None:
    """The bug at `site`, applied to a copy of the query's tree (None when it changes nothing)."""
    copy = query.tree.copy()
    index, number = site
    change = MUTATORS[number].apply(copy, nodes(copy)[index])
    if change is None or same_text(change.sql, query.sql):
        return None
    return change


def find_bugs(context: SqlContext, limit: int = 2) -> tuple[list[Change], bool]:
    """Up to `limit` bugs of different kinds, tried in random order, each kept only when it changes
    the result (when the query runs on its database). Returns (bugs, checked by execution)."""
    sites = mutation_sites(context.tree)
    context.rng.shuffle(sites)
    can_run = context.can_run
    kept: list[Change] = []
    for site in sites:
        if MUTATORS[site[1]].kind in {k.kind for k in kept}:
            continue
        change = apply_mutation(context.query, site)
        if change is None:
            continue
        if can_run and context.same_result(change.sql) is not False:
            continue
        kept.append(change)
        if len(kept) >= limit:
            break
    return kept, can_run
