"""Instruction-driven modifications: sort, limit, another aggregate, one more column, one more
filter, DISTINCT. Each comes with a near-miss `contrast` (the other sort direction, another
limit, another aggregate, column or comparison): a natural hard negative."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from sqlglot import exp

from rag.execution import results_match
from synth.sql.context import Change, SqlContext
from synth.sql.syntax import (
    in_scope_of,
    is_aggregate_query,
    joins,
    nodes,
    output_name,
    render,
    tables,
    with_clause,
)
from synth.sql.wording import AGGREGATES, ALIAS_WORDS, ALTERNATIVES, words

Edit = Callable[[SqlContext], "Change | None"]


def _select(context: SqlContext) -> exp.Select:
    """The query as a SELECT: `find_edits` tries the edits on SELECT queries only."""
    return cast(exp.Select, context.tree)


def _edit_order(context: SqlContext) -> Change | None:
    tree, rng = _select(context), context.rng
    if tree.args.get("order") or (not tree.args.get("group") and any(s.find(exp.AggFunc) for s in tree.expressions)):
        return None
    names = [n for n in (output_name(p) for p in tree.expressions) if n and n.isidentifier()]
    if not names:
        return None
    aggregated = [output_name(p) for p in tree.expressions if p.find(exp.AggFunc) and output_name(p) in names]
    name = rng.choice(aggregated or names)
    descending = rng.random() < 0.5
    way, other = ("descending", "ascending") if descending else ("ascending", "descending")

    def ordered(desc: bool) -> str:
        return render(tree.copy().order_by(exp.Ordered(this=exp.column(name), desc=desc, nulls_first=not desc), copy=False))

    return Change(
        kind="add_order",
        sql=ordered(descending),
        instruction=f"Sort the results by {name} in {way} order.",
        diff=f"also sorts the rows by {name} in {way} order",
        contrast=ordered(not descending),
        contrast_diff=f"also sorts the rows by {name} in {other} order",
    )


def _edit_limit(context: SqlContext) -> Change | None:
    tree, base = _select(context), context.base
    if not tree.args.get("order") or tree.args.get("limit"):
        return None
    count = len(base.rows) if base is not None else 10
    choices = [n for n in (1, 2, 3, 5) if n < count]
    if len(choices) < 2:
        return None
    n, other = context.rng.sample(choices, 2)
    return Change(
        kind="add_limit",
        sql=render(tree.copy().limit(n, copy=False)),
        instruction=f"Return only the first {n} row{'s' if n > 1 else ''}.",
        diff=f"returns only the first {n} row{'s' if n > 1 else ''}",
        contrast=render(tree.copy().limit(other, copy=False)),
        contrast_diff=f"returns only the first {other} row{'s' if other > 1 else ''}",
    )


def _edit_aggregate(context: SqlContext) -> Change | None:
    tree = context.tree
    sites = [i for i, n in enumerate(nodes(tree)) if type(n) in ALTERNATIVES and in_scope_of(n, tree)]
    if not sites:
        return None
    index = context.rng.choice(sites)
    old_type = type(nodes(tree)[index])
    new_type, contrast_type = ALTERNATIVES[old_type]
    arg = words(nodes(tree)[index].this)

    def swapped(target: type) -> str:
        copy = tree.copy()
        node = nodes(copy)[index]
        node.replace(target(this=node.this.copy()))
        _rename_aliases_for(copy, old_type, target)
        return render(copy)

    old_word, new_word, contrast_word = AGGREGATES[old_type][1], AGGREGATES[new_type][1], AGGREGATES[contrast_type][1]
    return Change(
        kind="change_aggregate",
        sql=swapped(new_type),
        instruction=f"Report the {new_word} {arg} instead of the {old_word}.",
        diff=f"computes the {new_word} of {arg} instead of the {old_word}",
        contrast=swapped(contrast_type),
        contrast_diff=f"computes the {contrast_word} of {arg} instead of the {old_word}",
    )


def _rename_aliases_for(tree: exp.Expression, old: type, new: type) -> None:
    """avg_fee → max_fee when AVG becomes MAX, in the alias and wherever the alias is used."""
    old_word, new_word = ALIAS_WORDS[old], ALIAS_WORDS[new]
    renames = {}
    for alias in tree.find_all(exp.Alias):
        name = alias.alias
        if old_word in name.lower() and alias.this.find(new):
            renamed = re.sub(old_word, new_word, name, flags=re.IGNORECASE)
            renames[name] = renamed
            alias.set("alias", exp.to_identifier(renamed))
    for column in tree.find_all(exp.Column):
        if not column.table and column.name in renames:
            column.set("this", exp.to_identifier(renames[column.name]))


def _single_table(tree: exp.Select) -> exp.Table | None:
    found = tables(tree)
    if len(found) != 1 or joins(tree) or tree.find(exp.Subquery) or with_clause(tree):
        return None
    return found[0]


def _edit_column(context: SqlContext) -> Change | None:
    tree = _select(context)
    table = _single_table(tree)
    if table is None or is_aggregate_query(tree) or tree.args.get("distinct") or any(isinstance(p, exp.Star) for p in tree.expressions):
        return None
    present = {p.this.name if isinstance(p, exp.Alias) else output_name(p) for p in tree.expressions}
    options = [c for c in context.schema.get(table.name, {}) if c not in present]
    if len(options) < 2:
        return None
    column, other = context.rng.sample(options, 2)

    def added(name: str) -> str:
        return render(tree.copy().select(exp.column(name, table=table.alias or None), copy=False))

    return Change(
        kind="add_column",
        sql=added(column),
        instruction=f"Also return the {column} column.",
        diff=f"also returns the {column} column",
        contrast=added(other),
        contrast_diff=f"also returns the {other} column",
    )


_DATE_LIKE = re.compile(r"^\d{4}-\d{2}")


def _edit_filter(context: SqlContext) -> Change | None:
    """One more equality filter on a categorical text column of the first table (a value that
    occurs at least twice, in a column with at least two such values)."""
    tree, database, rng = _select(context), context.database, context.rng
    if database is None or with_clause(tree):
        return None
    found = tables(tree)
    if not found:
        return None
    table = found[0]
    filtered_already = {c.name for c in (tree.args.get("where") or exp.Where()).find_all(exp.Column)}
    text_columns = [
        c for c, kind in context.schema.get(table.name, {}).items() if ("CHAR" in kind or "TEXT" in kind) and c not in filtered_already
    ]
    rng.shuffle(text_columns)
    for column in text_columns[:4]:
        probe = (
            f'SELECT "{column}", COUNT(*) FROM "{table.name}" WHERE "{column}" IS NOT NULL '
            f"GROUP BY 1 HAVING COUNT(*) >= 2 ORDER BY 2 DESC, 1 LIMIT 6"
        )
        values = database.run(probe)
        if values is None or len(values.rows) < 2 or any(_DATE_LIKE.match(str(v[0])) for v in values.rows):
            continue
        value = str(rng.choice(values.rows)[0])
        qualifier = table.alias or (table.name if joins(tree) else None)

        def filtered(op: type, column: str = column, qualifier: str | None = qualifier, value: str = value) -> str:
            copy = tree.copy()
            cond = op(this=exp.column(column, table=qualifier), expression=exp.Literal.string(value))
            where = copy.args.get("where")
            copy.set("where", exp.Where(this=exp.And(this=where.this.copy(), expression=cond) if where else cond))
            return render(copy)

        literal = exp.Literal.string(value).sql("sqlite")
        return Change(
            kind="add_filter",
            sql=filtered(exp.EQ),
            instruction=f"Only include rows where {column} is {literal}.",
            diff=f"only keeps rows where {column} is {literal}",
            contrast=filtered(exp.NEQ),
            contrast_diff=f"only keeps rows where {column} is not {literal}",
        )
    return None


def _edit_distinct(context: SqlContext) -> Change | None:
    tree = _select(context)
    if tree.args.get("distinct") or is_aggregate_query(tree) or any(isinstance(p, exp.Star) for p in tree.expressions):
        return None
    copy = tree.copy()
    copy.set("distinct", exp.Distinct())
    return Change(
        kind="add_distinct",
        sql=render(copy),
        instruction="Remove duplicate rows from the result.",
        diff="removes duplicate rows with DISTINCT",
    )


EDITS: tuple[Edit, ...] = (_edit_order, _edit_limit, _edit_aggregate, _edit_column, _edit_filter, _edit_distinct)


def find_edits(context: SqlContext, limit: int = 2) -> list[Change]:
    """Up to `limit` modifications a user could ask for, tried in random order; each must run
    (when a database is at hand), and a contrast that does not run is dropped."""
    if not isinstance(context.tree, exp.Select):
        return []
    base, database = context.base, context.database
    makers = list(EDITS)
    context.rng.shuffle(makers)
    found: list[Change] = []
    for make in makers:
        change = make(context)
        if change is None:
            continue
        if base is not None and database is not None:  # a base result comes from a database
            result = database.run(change.sql)
            if result is None:
                continue
            change.changes_result = not results_match(base, result, ordered=True)
            if not change.changes_result and change.kind == "add_distinct":
                continue  # a DISTINCT that removes nothing is no modification at all
            if change.contrast and database.run(change.contrast) is None:
                change.contrast = change.contrast_diff = ""
        found.append(change)
        if len(found) >= limit:
            break
    return found
