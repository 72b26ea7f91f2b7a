"""Equivalent forms of a query: table aliases and names, qualified columns, BETWEEN and IN
expanded, subquery ↔ CTE, LEFT JOIN … IS NULL → NOT EXISTS, explicit ↔ comma joins, reordered
filters. A rewrite is kept only when it returns the same rows on the example's database."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError

from synth.sql.context import Change, SqlContext
from synth.sql.syntax import (
    Schema,
    joins,
    output_name,
    render,
    same_text,
    tables,
    with_clause,
)
from synth.sql.wording import AGGREGATES, ALIAS_WORDS, FLIPPED, words


@dataclass(frozen=True)
class Rewrite:
    """An equivalence-preserving transformation; `apply` returns the new tree or None."""

    name: str
    apply: Callable[[exp.Expression, Schema], exp.Expression | None]
    instruction: str
    diff: str
    refactor: bool = True


def _aliases_to_names(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    every = list(tree.find_all(exp.Table))
    aliased = [t for t in every if t.alias]
    names = [t.name for t in every]
    if not aliased or len(set(names)) != len(names) or any(t.name not in schema for t in aliased):
        return None
    copy = tree.copy()
    mapping = {}
    for table in copy.find_all(exp.Table):
        if table.alias:
            mapping[table.alias] = table.name
            table.set("alias", None)
    for column in copy.find_all(exp.Column):
        if column.table in mapping:
            column.set("table", exp.to_identifier(mapping[column.table]))
    return copy


def _names_to_aliases(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    every = list(tree.find_all(exp.Table))
    names = [t.name for t in every]
    if len(every) < 2 or any(t.alias for t in every) or len(set(names)) != len(names):
        return None
    if any(t.name not in schema for t in every):
        return None
    aliases: dict[str, str] = {}
    for name in names:
        alias = "".join(part[0] for part in name.split("_") if part) or name[0]
        while alias in aliases.values() or alias in schema:
            alias += name[len(alias) % len(name)]
        aliases[name] = alias
    copy = tree.copy()
    for table in copy.find_all(exp.Table):
        table.set("alias", exp.TableAlias(this=exp.to_identifier(aliases[table.name])))
    for column in copy.find_all(exp.Column):
        if column.table in aliases:
            column.set("table", exp.to_identifier(aliases[column.table]))
    return copy


def _qualify_columns(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    from sqlglot.optimizer.qualify import qualify

    if not schema or not any(not c.table for c in tree.find_all(exp.Column)):
        return None
    try:
        qualified = qualify(
            tree.copy(),
            schema=dict[str, object](schema),
            dialect="sqlite",
            quote_identifiers=False,
            validate_qualify_columns=False,
            expand_stars=False,
        )
    except (SqlglotError, KeyError, ValueError):
        return None
    for alias in list(qualified.find_all(exp.Alias)):
        inner = alias.this
        redundant = (isinstance(inner, exp.Column) and inner.name == alias.alias) or inner.sql("sqlite") == alias.alias
        if redundant or alias.alias.startswith("_col_"):
            alias.replace(inner.copy())
    for table in qualified.find_all(exp.Table):
        if table.alias == table.name:
            table.set("alias", None)
    for order in qualified.find_all(exp.Order):  # ORDER BY price → ORDER BY products.price once `AS price` is gone
        select = order.find_ancestor(exp.Select)
        projected = {p.name: p for p in (select.expressions if select else []) if isinstance(p, exp.Column) and p.table}
        for column in order.find_all(exp.Column):
            if not column.table and column.name in projected:
                column.replace(projected[column.name].copy())
    if any(not c.table for c in qualified.find_all(exp.Column) if not _is_output_alias(c, qualified)):
        return None
    return qualified


def _is_output_alias(column: exp.Column, tree: exp.Expression) -> bool:
    select = column.find_ancestor(exp.Select)
    return select is not None and column.name in {p.alias for p in select.expressions if isinstance(p, exp.Alias)}


def _expand_between(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    if tree.find(exp.Between) is None:
        return None
    copy = tree.copy()
    found = False
    for between in list(copy.find_all(exp.Between)):
        if isinstance(between.parent, exp.Not):
            continue
        target = between.this
        between.replace(
            exp.Paren(
                this=exp.And(
                    this=exp.GTE(this=target.copy(), expression=between.args["low"].copy()),
                    expression=exp.LTE(this=target.copy(), expression=between.args["high"].copy()),
                )
            )
        )
        found = True
    return _unwrap_where_parens(copy) if found else None


def _unwrap_where_parens(tree: exp.Expression) -> exp.Expression:
    for paren in list(tree.find_all(exp.Paren)):
        if isinstance(paren.this, exp.And) and isinstance(paren.parent, (exp.Where, exp.And)):
            paren.replace(paren.this.copy())
    return tree


def _in_list_to_or(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    if not any(not n.args.get("query") and n.expressions for n in tree.find_all(exp.In)):
        return None
    copy = tree.copy()
    found = False
    for node in list(copy.find_all(exp.In)):
        values = node.expressions
        if node.args.get("query") or not 2 <= len(values) <= 4 or isinstance(node.parent, exp.Not):
            continue
        ors: exp.Condition = exp.EQ(this=node.this.copy(), expression=values[0].copy())
        for value in values[1:]:
            ors = exp.Or(this=ors, expression=exp.EQ(this=node.this.copy(), expression=value.copy()))
        node.replace(exp.Paren(this=ors))
        found = True
    return copy if found else None


def _correlated(subquery: exp.Expression, schema: Schema) -> bool:
    """True when the subquery refers to a table it does not define itself."""
    inner_tables = {t.alias_or_name for t in subquery.find_all(exp.Table)}
    inner_columns = {c for t in subquery.find_all(exp.Table) for c in schema.get(t.name, {})}
    for column in subquery.find_all(exp.Column):
        if column.table:
            if column.table not in inner_tables:
                return True
        elif schema and column.name not in inner_columns:
            return True
    return False


def _subquery_to_cte(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    """`WHERE x IN (SELECT …)` / `WHERE x > (SELECT AVG …)` → a CTE, for the first uncorrelated one."""
    if not isinstance(tree, exp.Select) or not schema or tree.args.get("where") is None or tree.args["where"].find(exp.Subquery) is None:
        return None
    copy = tree.copy()
    for subquery in copy.args["where"].find_all(exp.Subquery):
        holder = subquery.parent
        query = subquery.this
        if not isinstance(holder, (exp.In, *FLIPPED)) or subquery.find_ancestor(exp.Select) is not copy:
            continue
        if not isinstance(query, exp.Select) or len(query.expressions) != 1 or _correlated(query, schema):
            continue
        projection = query.expressions[0]
        inner = query.copy()
        column = output_name(projection)
        if not column.isidentifier() or projection.find(exp.AggFunc) is not None and not isinstance(projection, exp.Alias):
            column = "value"
            inner.set("expressions", [exp.alias_(projection.copy(), column)])
        name = _cte_name(query, copy)
        subquery.replace(exp.Subquery(this=exp.select(exp.column(column)).from_(name)))
        return copy.with_(name, as_=inner, append=True)
    return None


def _cte_name(query: exp.Select, tree: exp.Expression) -> str:
    taken = {t.name for t in tree.find_all(exp.Table)} | {c.alias for c in tree.find_all(exp.CTE)}
    agg = query.expressions[0].find(exp.AggFunc)
    found = tables(query)
    base = found[0].name if found else "sub"
    if agg is not None and type(agg) in AGGREGATES:
        name = f"{ALIAS_WORDS[type(agg)]}_{words(agg.this)}".lower()
    else:
        name = f"matching_{base}"
    name = re.sub(r"\W+", "_", name).strip("_") or "sub"
    while name in taken:
        name += "_cte"
    return name


def _cte_to_subquery(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    with_ = with_clause(tree)
    if with_ is None or len(with_.expressions) != 1 or with_.args.get("recursive"):
        return None
    cte = with_.expressions[0]
    uses = [t for t in tree.find_all(exp.Table) if t.name == cte.alias and not t.args.get("db")]
    if len(uses) != 1 or not isinstance(uses[0].parent, (exp.From, exp.Join)):
        return None
    copy = tree.copy()
    use = [t for t in copy.find_all(exp.Table) if t.name == cte.alias][0]
    alias = use.alias or cte.alias
    copied = with_clause(copy)
    assert copied is not None  # a copy of a query that has one
    use.replace(exp.Subquery(this=copied.expressions[0].this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))
    copy.set("with_" if "with_" in copy.args else "with", None)
    return copy


def _joins_to_commas(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    if not isinstance(tree, exp.Select):
        return None
    found = joins(tree)
    if not found or any(j.args.get("side") or (j.args.get("kind") or "INNER").upper() != "INNER" or not j.args.get("on") for j in found):
        return None
    copy = tree.copy()
    conditions = []
    for join in joins(copy):
        conditions.append(join.args["on"].copy())
        join.set("on", None)
        join.set("kind", None)
    where = copy.args.get("where")
    if where is not None:
        conditions.append(where.this.copy())
    combined = conditions[0]
    for cond in conditions[1:]:
        combined = exp.And(this=combined, expression=cond)
    copy.set("where", exp.Where(this=combined))
    return _unwrap_where_parens(copy)


def _anti_join_to_not_exists(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    if not isinstance(tree, exp.Select):
        return None
    found = joins(tree)
    where = tree.args.get("where")
    if len(found) != 1 or where is None or not isinstance(where.this, exp.Is):
        return None
    join = found[0]
    right = join.this
    on = join.args.get("on")
    if (join.args.get("side") or "").upper() != "LEFT" or not isinstance(right, exp.Table) or not isinstance(on, exp.EQ):
        return None
    right_name = right.alias_or_name
    null_col = where.this.this
    if not isinstance(null_col, exp.Column) or null_col.table != right_name:
        return None
    outside = [c for c in tree.find_all(exp.Column) if c.table == right_name and c.find_ancestor(exp.Join) is None and c is not null_col]
    if outside:
        return None
    copy = tree.copy()
    copy_join = joins(copy)[0]
    inner = exp.select("1").from_(copy_join.this.copy(), copy=False).where(copy_join.args["on"].copy(), copy=False)
    copy.set("joins", None)
    copy.set("where", exp.Where(this=exp.Not(this=exp.Exists(this=inner))))
    return copy


def _reorder_conditions(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    where = tree.args.get("where")
    if where is None or not isinstance(where.this, exp.And):
        return None
    copy = tree.copy()
    conds = list(copy.args["where"].this.flatten())
    if len(conds) < 2:
        return None
    conds = conds[1:] + conds[:1]
    combined = conds[0].copy()
    for cond in conds[1:]:
        combined = exp.And(this=combined, expression=cond.copy())
    copy.set("where", exp.Where(this=combined))
    return copy


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "aliases_to_names",
        _aliases_to_names,
        "Refactor this query to use the full table names instead of table aliases.",
        "uses the full table names instead of table aliases",
    ),
    Rewrite(
        "names_to_aliases",
        _names_to_aliases,
        "Refactor this query to give every table a short alias and use it for every column.",
        "gives every table a short alias",
    ),
    Rewrite(
        "qualify_columns",
        _qualify_columns,
        "Refactor this query so that every column is qualified with its table name or alias.",
        "qualifies every column with its table",
    ),
    Rewrite(
        "expand_between",
        _expand_between,
        "Refactor this query to replace BETWEEN with two explicit comparisons.",
        "writes the BETWEEN range as two comparisons",
    ),
    Rewrite(
        "in_list_to_or",
        _in_list_to_or,
        "Refactor this query to write the IN list as OR-ed equality tests.",
        "writes the IN list as OR-ed equality tests",
    ),
    Rewrite(
        "subquery_to_cte",
        _subquery_to_cte,
        "Refactor this query so that the nested subquery becomes a common table expression (WITH clause).",
        "moves the subquery into a common table expression",
    ),
    Rewrite(
        "cte_to_subquery",
        _cte_to_subquery,
        "Refactor this query to inline the common table expression as a subquery in the FROM clause.",
        "inlines the common table expression as a subquery",
    ),
    Rewrite(
        "anti_join_to_not_exists",
        _anti_join_to_not_exists,
        "Refactor this query to replace the LEFT JOIN … IS NULL pattern with NOT EXISTS.",
        "uses NOT EXISTS instead of a LEFT JOIN with an IS NULL test",
    ),
    Rewrite(
        "joins_to_commas", _joins_to_commas, "", "lists the tables with commas and moves the join conditions into WHERE", refactor=False
    ),
    Rewrite("reorder_conditions", _reorder_conditions, "", "lists the WHERE conditions in another order", refactor=False),
)


FALLBACK_REWRITES = frozenset({"qualify_columns", "reorder_conditions"})


def find_rewrites(
    context: SqlContext, limit: int = 1, *, refactor_only: bool = False, memo: dict[str, exp.Expression | None] | None = None
) -> tuple[list[Change], bool]:
    """Up to `limit` rewrites, tried in random order, each kept only when it returns the same rows
    (when the query runs on its database). Returns (rewrites, checked by execution). `memo`
    (rewrite name → result) lets several calls on one query share the work."""
    original, tree = context.query.sql, context.tree
    can_run = context.can_run
    candidates = [r for r in REWRITES if r.refactor or not refactor_only]
    context.rng.shuffle(candidates)
    candidates.sort(key=lambda r: r.name in FALLBACK_REWRITES)  # they apply almost everywhere: try the others first
    memo = {} if memo is None else memo
    found = []
    for rewrite in candidates:
        if rewrite.name not in memo:
            try:
                memo[rewrite.name] = rewrite.apply(tree, context.schema)
            except (SqlglotError, ValueError, KeyError, AttributeError, TypeError):
                memo[rewrite.name] = None
        new = memo[rewrite.name]
        if new is None:
            continue
        sql = render(new)
        if same_text(sql, original):
            continue
        if can_run and not context.equivalent(sql):
            continue
        found.append(Change(kind=rewrite.name, sql=sql, instruction=rewrite.instruction, diff=rewrite.diff, tree=new))
        if len(found) >= limit:
            break
    return found, can_run
