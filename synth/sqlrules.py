"""SQL transformations for rule-based synthesis, all through sqlglot's AST (SQLite dialect).

Four families, each returning `Change` records (the changed SQL plus the texts that describe it):

- `mutations`: injected bugs (a flipped comparison, a swapped aggregate, a reversed sort, a lost
  condition, another join type, an off-by-one limit, a missing DISTINCT);
- `edits`: instruction-driven modifications (sort, limit, another aggregate, one more column,
  one more filter, DISTINCT), each with a near-miss `contrast` that is a natural hard negative;
- `rewrites`: equivalent forms (table aliases, qualified columns, BETWEEN and IN expanded,
  subquery ↔ CTE, explicit ↔ comma joins, LEFT JOIN … IS NULL → NOT EXISTS, reordered filters);
- `translations` and `styles`: other dialects and layouts of the same query.

`SqlRunner` executes SQL on an example's own database (a gretel script or a SQLite file), so a
bug is kept only when it changes the result, a rewrite only when it does not, and mining can
recognise an execution-equivalent candidate as a false negative.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError

from rag.documents import schema_only
from rag.errors import CodeRagError

logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECTS: dict[str, str] = {
    "postgres": "PostgreSQL",
    "mysql": "MySQL",
    "tsql": "SQL Server (T-SQL)",
    "oracle": "Oracle",
    "duckdb": "DuckDB",
    "bigquery": "BigQuery",
    "snowflake": "Snowflake",
}
QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except)

Schema = dict[str, dict[str, str]]


@dataclass
class Change:
    """A changed query and the words that describe the change.

    `bug` completes "the query …" (what is wrong), `diff` completes "the second query …",
    `instruction` asks for the change, `contrast` is a near-miss SQL (a hard negative).
    """

    kind: str
    sql: str
    bug: str = ""
    diff: str = ""
    instruction: str = ""
    contrast: str = ""
    contrast_diff: str = ""


# --- parsing and rendering --------------------------------------------------------------------


def parse_query(sql: str) -> exp.Expression | None:
    """One read-only query parsed as SQLite, or None when it does not parse or is not a query."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (ParseError, TokenError, SqlglotError, ValueError, RecursionError):
        return None
    if len(statements) != 1 or not isinstance(statements[0], QUERY_TYPES):
        return None
    return statements[0]


def render(tree: exp.Expression, dialect: str = "sqlite", pretty: bool = False) -> str:
    return tree.sql(dialect=dialect, pretty=pretty)


def same_text(a: str, b: str) -> bool:
    """Equal up to case, whitespace and a trailing semicolon."""
    return _squash(a) == _squash(b)


def _squash(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.strip().rstrip(";")).strip().lower()


def parse_schema(context: str) -> Schema:
    """Table → column → type from the CREATE TABLE statements of a database script or schema."""
    schema: Schema = {}
    try:
        statements = sqlglot.parse(schema_only(context), read="sqlite")
    except (ParseError, TokenError, SqlglotError, ValueError):
        return schema
    for statement in statements:
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            continue
        table = statement.this.this
        if not isinstance(table, exp.Table):
            continue
        columns = {}
        for column in statement.this.expressions:
            if isinstance(column, exp.ColumnDef):
                kind = column.args.get("kind")
                columns[column.name] = kind.sql("sqlite").upper() if kind is not None else "TEXT"
        schema[table.name] = columns
    return schema


def _from(select: exp.Expression) -> exp.From | None:
    return select.args.get("from_") or select.args.get("from")


def _joins(select: exp.Expression) -> list[exp.Join]:
    return list(select.args.get("joins") or [])


def _tables(select: exp.Select) -> list[exp.Table]:
    """The tables of one SELECT's FROM and JOIN clauses (not those of nested queries)."""
    found = []
    source = _from(select)
    if source is not None and isinstance(source.this, exp.Table):
        found.append(source.this)
    found.extend(j.this for j in _joins(select) if isinstance(j.this, exp.Table))
    return found


def _is_aggregate_query(select: exp.Select) -> bool:
    return bool(select.args.get("group")) or any(s.find(exp.AggFunc) for s in select.expressions)


def _in_scope_of(node: exp.Expression, root: exp.Expression) -> bool:
    """True when `node` belongs to `root`'s own SELECT, not to a nested query."""
    return node.find_ancestor(exp.Select) is root


# --- describing expressions in words ---------------------------------------------------------

OPS: dict[type, str] = {
    exp.EQ: "equal to",
    exp.NEQ: "not equal to",
    exp.GT: "greater than",
    exp.GTE: "at least",
    exp.LT: "less than",
    exp.LTE: "at most",
}
FLIPPED: dict[type, type] = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LT, exp.LTE: exp.GT}
AGGREGATES: dict[type, tuple[str, str]] = {
    exp.Avg: ("AVG", "average"),
    exp.Sum: ("SUM", "total"),
    exp.Max: ("MAX", "maximum"),
    exp.Min: ("MIN", "minimum"),
}
SWAPPED: dict[type, type] = {exp.Avg: exp.Sum, exp.Sum: exp.Avg, exp.Max: exp.Min, exp.Min: exp.Max}
ALTERNATIVES: dict[type, tuple[type, type]] = {
    exp.Avg: (exp.Max, exp.Min),
    exp.Sum: (exp.Avg, exp.Max),
    exp.Max: (exp.Min, exp.Avg),
    exp.Min: (exp.Max, exp.Avg),
}
_ALIAS_WORDS = {exp.Avg: "avg", exp.Sum: "total", exp.Max: "max", exp.Min: "min"}


def words(node: exp.Expression) -> str:
    """A short human rendering: a column by its name, a subquery as 'the subquery's result', else SQL."""
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Subquery) or isinstance(node, exp.Select):
        return "the subquery's result"
    if isinstance(node, exp.Paren):
        return words(node.this)
    return node.sql("sqlite")


def describe_condition(cond: exp.Expression) -> str:
    """'that city is equal to 'Springfield'' and friends; the generic phrase when the shape is unusual."""
    if type(cond) in OPS:
        return f"that {words(cond.this)} is {OPS[type(cond)]} {words(cond.expression)}"
    if isinstance(cond, exp.Like):
        return f"that {words(cond.this)} matches {words(cond.expression)}"
    if isinstance(cond, exp.Between):
        return f"that {words(cond.this)} is between {words(cond.args['low'])} and {words(cond.args['high'])}"
    if isinstance(cond, exp.In):
        target = "the subquery's result" if cond.args.get("query") else ", ".join(words(e) for e in cond.expressions)
        return f"that {words(cond.this)} is in {target}"
    if isinstance(cond, exp.Is):
        return f"that {words(cond.this)} is NULL"
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is):
        return f"that {words(cond.this.this)} is not NULL"
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Exists):
        return "that no matching row exists in the subquery"
    if isinstance(cond, exp.Exists):
        return "that a matching row exists in the subquery"
    return "on one of its filters"


# --- executing on the example's database -----------------------------------------------------


@dataclass(frozen=True)
class Result:
    rows: tuple[tuple[object, ...], ...]
    width: int

    def same(self, other: Result, ordered: bool) -> bool:
        if self.width != other.width or len(self.rows) != len(other.rows):
            return False
        if ordered:
            return self.rows == other.rows
        return sorted(map(repr, self.rows)) == sorted(map(repr, other.rows))


class SqlRunner:
    """Runs queries on an example's database: a gretel script (built in memory) or a SQLite file.

    Databases and results are cached (LRU), so checking many variants of one query is cheap.
    Not thread-safe: one runner per thread.
    """

    def __init__(self, *, timeout_s: float = 2.0, max_rows: int = 500, max_databases: int = 64, max_results: int = 4096) -> None:
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self._dbs: OrderedDict[str, object] = OrderedDict()
        self._results: OrderedDict[tuple[str, str], Result | None] = OrderedDict()
        self._max_dbs = max_databases
        self._max_results = max_results

    @staticmethod
    def key(context: str, db_path: str | None) -> str | None:
        if db_path:
            return f"file:{db_path}"
        if context and "CREATE" in context.upper():
            return "script:" + hashlib.md5(context.encode()).hexdigest()
        return None

    def _database(self, context: str, db_path: str | None):
        from rag.sandbox import ReadOnlyDatabase

        key = self.key(context, db_path)
        if key is None:
            return None
        if key in self._dbs:
            self._dbs.move_to_end(key)
            return self._dbs[key]
        try:
            if db_path:
                db = ReadOnlyDatabase.open(db_path, timeout_s=self.timeout_s, max_rows=self.max_rows)
            else:
                db = ReadOnlyDatabase.from_script(context, timeout_s=self.timeout_s, max_rows=self.max_rows)
        except CodeRagError:
            db = None
        self._dbs[key] = db
        if len(self._dbs) > self._max_dbs:
            _, old = self._dbs.popitem(last=False)
            if old is not None:
                old.close()
        return db

    def available(self, context: str, db_path: str | None) -> bool:
        return self._database(context, db_path) is not None

    def run(self, sql: str, context: str, db_path: str | None = None) -> Result | None:
        """The query's rows (floats rounded), or None when it fails or there is no database."""
        key = self.key(context, db_path)
        if key is None:
            return None
        cache_key = (key, sql)
        if cache_key in self._results:
            self._results.move_to_end(cache_key)
            return self._results[cache_key]
        db = self._database(context, db_path)
        result = None
        if db is not None:
            try:
                raw = db.execute(sql)
                rows = tuple(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in raw.rows)
                result = Result(rows=rows, width=len(raw.columns))
            except CodeRagError:
                result = None
        self._results[cache_key] = result
        if len(self._results) > self._max_results:
            self._results.popitem(last=False)
        return result

    def same_result(self, a: str, b: str, context: str, db_path: str | None = None, *, ordered: bool = False) -> bool | None:
        """True/False when both run; None when either fails or there is no database."""
        ra, rb = self.run(a, context, db_path), self.run(b, context, db_path)
        if ra is None or rb is None:
            return None
        return ra.same(rb, ordered)

    def close(self) -> None:
        for db in self._dbs.values():
            if db is not None:
                db.close()
        self._dbs.clear()
        self._results.clear()


def has_order(tree: exp.Expression) -> bool:
    return bool(tree.args.get("order"))


def equivalent(runner: SqlRunner, a: str, b: str, context: str, db_path: str | None, ordered: bool) -> bool | None:
    """Same rows on the example's database; with ORDER BY the order must match unless only ties moved."""
    same = runner.same_result(a, b, context, db_path, ordered=ordered)
    if same is False and ordered and runner.same_result(a, b, context, db_path, ordered=False):
        return not (parse_query(a) or exp.Select()).args.get("limit")
    return same


# --- mutations: injected bugs ----------------------------------------------------------------


def _nodes(tree: exp.Expression) -> list[exp.Expression]:
    return list(tree.walk())


def _mutate_at(tree: exp.Expression, index: int, apply: Callable[[exp.Expression, exp.Expression], Change | None]) -> Change | None:
    """Apply a change to the node at walk position `index` of a copy of `tree`."""
    copy = tree.copy()
    node = _nodes(copy)[index]
    return apply(copy, node)


def mutations(tree: exp.Expression, question: str = "") -> list[Change]:
    """Every single-site bug the rules know for this query (unverified; see `verified_bugs`)."""
    found: list[Change] = []
    for index, node in enumerate(_nodes(tree)):
        for mutate in _MUTATORS:
            if mutate.applies(node):
                change = _mutate_at(tree, index, mutate.apply)
                if change is not None and not same_text(change.sql, render(tree)):
                    found.append(change)
    return found


@dataclass(frozen=True)
class _Mutator:
    applies: Callable[[exp.Expression], bool]
    apply: Callable[[exp.Expression, exp.Expression], Change | None]


def _filter_comparison(node: exp.Expression) -> bool:
    return type(node) in FLIPPED and (node.find_ancestor(exp.Where, exp.Having, exp.Join) is not None) and not isinstance(
        node.find_ancestor(exp.Where, exp.Having, exp.Join), exp.Join
    )


def _flip_comparison(root: exp.Expression, node: exp.Expression) -> Change:
    new_type = FLIPPED[type(node)]
    good, bad = OPS[type(node)], OPS[new_type]
    lhs, rhs = words(node.this), words(node.expression)
    scope = "groups" if node.find_ancestor(exp.Having) is not None else "rows"
    node.replace(new_type(this=node.this.copy(), expression=node.expression.copy()))
    return Change(
        kind="flipped_comparison",
        sql=render(root),
        bug=f"keeps {scope} where {lhs} is {bad} {rhs} instead of {good} it",
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
    node.set("nulls_first", None)
    where = "within each partition " if node.find_ancestor(exp.Window) is not None else ""
    return Change(
        kind="flipped_order",
        sql=render(root),
        bug=f"orders {where}by {col} in {bad} order instead of {good} order",
        diff=f"orders {where}by {col} in {bad} order, while the first uses {good} order",
    )


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
        bug=f"is missing the condition {described}, so rows that should be filtered out are returned",
        diff=f"drops the condition {described}, which the first query applies",
    )


def _droppable(node: exp.Expression) -> bool:
    parent = node.parent
    if isinstance(node, (exp.And, exp.Or, exp.Paren)) or parent is None:
        return False
    if isinstance(parent, exp.Where):
        return True
    return isinstance(parent, exp.And) and (isinstance(parent.parent, exp.Where) or isinstance(parent.parent, exp.And))


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
        bug=f"returns up to {bad} rows instead of {good}",
        diff=f"returns up to {bad} rows, while the first returns up to {good}",
    )


def _drop_distinct(root: exp.Expression, node: exp.Expression) -> Change:
    node.set("distinct", None)
    return Change(
        kind="dropped_distinct",
        sql=render(root),
        bug="does not remove duplicate rows because DISTINCT is missing",
        diff="does not remove duplicate rows, while the first uses DISTINCT",
    )


_MUTATORS: tuple[_Mutator, ...] = (
    _Mutator(_filter_comparison, _flip_comparison),
    _Mutator(lambda n: type(n) in SWAPPED, _swap_aggregate),
    _Mutator(lambda n: isinstance(n, exp.Ordered), _flip_order),
    _Mutator(_droppable, _drop_condition),
    _Mutator(lambda n: isinstance(n, exp.Join), _switch_join),
    _Mutator(lambda n: isinstance(n, exp.Limit), _shift_limit),
    _Mutator(lambda n: isinstance(n, exp.Select) and bool(n.args.get("distinct")), _drop_distinct),
)


def verified_bugs(
    tree: exp.Expression, runner: SqlRunner | None, context: str, db_path: str | None, rng: random.Random, limit: int = 2
) -> tuple[list[Change], bool]:
    """Up to `limit` bugs (in random order) that change the result; (bugs, checked by execution)."""
    candidates = mutations(tree)
    rng.shuffle(candidates)
    original = render(tree)
    can_run = runner is not None and runner.run(original, context, db_path) is not None
    kept: list[Change] = []
    for change in candidates:
        if can_run:
            same = runner.same_result(original, change.sql, context, db_path, ordered=has_order(tree))  # type: ignore[union-attr]
            if same is not False:
                continue
        if any(same_text(change.sql, k.sql) or change.kind == k.kind for k in kept):
            continue
        kept.append(change)
        if len(kept) >= limit:
            break
    return kept, can_run


# --- edits: instruction-driven modifications -------------------------------------------------


def edits(tree: exp.Expression, schema: Schema, runner: SqlRunner | None, context: str, db_path: str | None, rng: random.Random) -> list[Change]:
    """Modifications a user could ask for, with instructions; each runs when a database is at hand."""
    if not isinstance(tree, exp.Select):
        return []
    base = runner.run(render(tree), context, db_path) if runner is not None else None
    found: list[Change] = []
    for make in (_edit_order, _edit_limit, _edit_aggregate, _edit_column, _edit_filter, _edit_distinct):
        change = make(tree, schema, runner, context, db_path, rng, base)
        if change is None:
            continue
        if runner is not None and base is not None:
            if runner.run(change.sql, context, db_path) is None:
                continue
            if change.contrast and runner.run(change.contrast, context, db_path) is None:
                change.contrast = change.contrast_diff = ""
        found.append(change)
    return found


def _output_name(projection: exp.Expression) -> str:
    return projection.alias_or_name if not isinstance(projection, exp.Star) else ""


def _edit_order(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    if tree.args.get("order") or (not tree.args.get("group") and any(s.find(exp.AggFunc) for s in tree.expressions)):
        return None
    names = [n for n in (_output_name(p) for p in tree.expressions) if n and n.isidentifier()]
    if not names:
        return None
    aggregated = [_output_name(p) for p in tree.expressions if p.find(exp.AggFunc) and _output_name(p) in names]
    name = rng.choice(aggregated or names)
    descending = rng.random() < 0.5
    way, other = ("descending", "ascending") if descending else ("ascending", "descending")

    def ordered(desc: bool) -> str:
        return render(tree.copy().order_by(exp.Ordered(this=exp.column(name), desc=desc)))

    return Change(
        kind="add_order",
        sql=ordered(descending),
        instruction=f"Sort the results by {name} in {way} order.",
        diff=f"also sorts the rows by {name} in {way} order",
        contrast=ordered(not descending),
        contrast_diff=f"also sorts the rows by {name} in {other} order",
    )


def _edit_limit(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    if not tree.args.get("order") or tree.args.get("limit"):
        return None
    rows = len(base.rows) if base is not None else 10
    choices = [n for n in (1, 2, 3, 5) if n < rows]
    if len(choices) < 2:
        return None
    n, other = rng.sample(choices, 2)
    return Change(
        kind="add_limit",
        sql=render(tree.copy().limit(n)),
        instruction=f"Return only the first {n} row{'s' if n > 1 else ''}.",
        diff=f"returns only the first {n} row{'s' if n > 1 else ''}",
        contrast=render(tree.copy().limit(other)),
        contrast_diff=f"returns only the first {other} row{'s' if other > 1 else ''}",
    )


def _edit_aggregate(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    sites = [i for i, n in enumerate(_nodes(tree)) if type(n) in ALTERNATIVES and _in_scope_of(n, tree)]
    if not sites:
        return None
    index = rng.choice(sites)
    old_type = type(_nodes(tree)[index])
    new_type, contrast_type = ALTERNATIVES[old_type]
    arg = words(_nodes(tree)[index].this)

    def swapped(target: type) -> str:
        copy = tree.copy()
        node = _nodes(copy)[index]
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
    old_word, new_word = _ALIAS_WORDS[old], _ALIAS_WORDS[new]
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
    tables = _tables(tree)
    if len(tables) != 1 or _joins(tree) or tree.find(exp.Subquery) or tree.args.get("with"):
        return None
    return tables[0]


def _edit_column(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    table = _single_table(tree)
    if table is None or _is_aggregate_query(tree) or tree.args.get("distinct") or any(isinstance(p, exp.Star) for p in tree.expressions):
        return None
    present = {p.this.name if isinstance(p, exp.Alias) else _output_name(p) for p in tree.expressions}
    options = [c for c in schema.get(table.name, {}) if c not in present]
    if len(options) < 2:
        return None
    column, other = rng.sample(options, 2)

    def added(name: str) -> str:
        return render(tree.copy().select(exp.column(name, table=table.alias or None)))

    return Change(
        kind="add_column",
        sql=added(column),
        instruction=f"Also return the {column} column.",
        diff=f"also returns the {column} column",
        contrast=added(other),
        contrast_diff=f"also returns the {other} column",
    )


def _edit_filter(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    if runner is None or tree.args.get("with"):
        return None
    tables = _tables(tree)
    if not tables:
        return None
    table = tables[0]
    text_columns = [c for c, kind in schema.get(table.name, {}).items() if "CHAR" in kind or "TEXT" in kind or kind == ""]
    rng.shuffle(text_columns)
    for column in text_columns[:3]:
        if any(c.name == column for c in (tree.args.get("where") or exp.Where()).find_all(exp.Column)):
            continue
        probe = f'SELECT DISTINCT "{column}" FROM "{table.name}" WHERE "{column}" IS NOT NULL ORDER BY 1 LIMIT 8'
        values = runner.run(probe, context, db_path)
        if values is None or len(values.rows) < 2:
            continue
        value = str(rng.choice(values.rows)[0])
        qualifier = table.alias or (table.name if _joins(tree) else None)

        def filtered(op: type) -> str:
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


def _edit_distinct(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    if tree.args.get("distinct") or _is_aggregate_query(tree) or any(isinstance(p, exp.Star) for p in tree.expressions):
        return None
    copy = tree.copy()
    copy.set("distinct", exp.Distinct())
    return Change(
        kind="add_distinct",
        sql=render(copy),
        instruction="Remove duplicate rows from the result.",
        diff="removes duplicate rows with DISTINCT",
    )


# --- rewrites: the same result, written differently ------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    """An equivalence-preserving transformation; `apply` returns the new tree or None."""

    name: str
    apply: Callable[[exp.Expression, Schema], exp.Expression | None]
    instruction: str
    diff: str
    refactor: bool = True


def _aliases_to_names(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    tables = list(tree.find_all(exp.Table))
    aliased = [t for t in tables if t.alias]
    names = [t.name for t in tables]
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
    tables = list(tree.find_all(exp.Table))
    names = [t.name for t in tables]
    if len(tables) < 2 or any(t.alias for t in tables) or len(set(names)) != len(names):
        return None
    if any(t.name not in schema for t in tables):
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
        qualified = qualify(tree.copy(), schema=schema, dialect="sqlite", quote_identifiers=False, validate_qualify_columns=False, expand_stars=False)
    except (SqlglotError, KeyError, ValueError):
        return None
    for alias in list(qualified.find_all(exp.Alias)):
        inner = alias.this
        if (isinstance(inner, exp.Column) and inner.name == alias.alias) or alias.alias.startswith("_col_"):
            alias.replace(inner.copy())
    for table in qualified.find_all(exp.Table):
        if table.alias == table.name:
            table.set("alias", None)
    if any(not c.table for c in qualified.find_all(exp.Column) if not _is_output_alias(c, qualified)):
        return None
    return qualified


def _is_output_alias(column: exp.Column, tree: exp.Expression) -> bool:
    select = column.find_ancestor(exp.Select)
    return select is not None and column.name in {p.alias for p in select.expressions if isinstance(p, exp.Alias)}


def _expand_between(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    copy = tree.copy()
    found = False
    for between in list(copy.find_all(exp.Between)):
        if isinstance(between.parent, exp.Not):
            continue
        target = between.this
        between.replace(exp.Paren(this=exp.And(
            this=exp.GTE(this=target.copy(), expression=between.args["low"].copy()),
            expression=exp.LTE(this=target.copy(), expression=between.args["high"].copy()),
        )))
        found = True
    return _unwrap_where_parens(copy) if found else None


def _unwrap_where_parens(tree: exp.Expression) -> exp.Expression:
    for paren in list(tree.find_all(exp.Paren)):
        if isinstance(paren.this, exp.And) and isinstance(paren.parent, (exp.Where, exp.And)):
            paren.replace(paren.this.copy())
    return tree


def _in_list_to_or(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    copy = tree.copy()
    found = False
    for node in list(copy.find_all(exp.In)):
        values = node.expressions
        if node.args.get("query") or not 2 <= len(values) <= 4 or isinstance(node.parent, exp.Not):
            continue
        ors = exp.EQ(this=node.this.copy(), expression=values[0].copy())
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
    if not isinstance(tree, exp.Select) or not schema:
        return None
    copy = tree.copy()
    where = copy.args.get("where")
    if where is None:
        return None
    subqueries = [s for s in where.find_all(exp.Subquery, exp.Select) if s.parent is not None and s is not where and _outermost_query(s, where)]
    for node in subqueries:
        query = node.this if isinstance(node, exp.Subquery) else node
        if not isinstance(query, exp.Select) or _correlated(query, schema) or len(query.expressions) != 1:
            continue
        holder = node.parent
        if not isinstance(holder, (exp.In, *FLIPPED)) or isinstance(holder, exp.Exists):
            continue
        name = _cte_name(query, copy)
        projection = query.expressions[0]
        column = projection.alias_or_name if _output_name(projection) and _output_name(projection).isidentifier() else None
        inner = query.copy()
        if column is None or isinstance(projection, exp.AggFunc) or not projection.alias_or_name.isidentifier():
            column = "value"
            inner.set("expressions", [exp.alias_(projection.copy(), column)])
        reference = exp.select(exp.column(column)).from_(name)
        if isinstance(node, exp.Subquery):
            node.replace(exp.Subquery(this=reference))
        elif isinstance(holder, exp.In):
            holder.set("query", exp.Subquery(this=reference))
        else:
            node.replace(exp.Subquery(this=reference))
        return copy.with_(name, as_=inner, append=True)
    return None


def _outermost_query(node: exp.Expression, where: exp.Where) -> bool:
    ancestor = node.parent
    while ancestor is not None and ancestor is not where:
        if isinstance(ancestor, (exp.Select, exp.Subquery)):
            return False
        ancestor = ancestor.parent
    return True


def _cte_name(query: exp.Select, tree: exp.Expression) -> str:
    taken = {t.name for t in tree.find_all(exp.Table)} | {c.alias for c in tree.find_all(exp.CTE)}
    agg = query.expressions[0].find(exp.AggFunc)
    tables = _tables(query)
    base = tables[0].name if tables else "sub"
    if agg is not None and type(agg) in AGGREGATES:
        name = f"{_ALIAS_WORDS[type(agg)]}_{words(agg.this)}".lower()
    else:
        name = f"matching_{base}"
    name = re.sub(r"\W+", "_", name).strip("_") or "sub"
    while name in taken:
        name += "_cte"
    return name


def _cte_to_subquery(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    with_ = tree.args.get("with")
    if with_ is None or len(with_.expressions) != 1 or with_.args.get("recursive"):
        return None
    cte = with_.expressions[0]
    uses = [t for t in tree.find_all(exp.Table) if t.name == cte.alias and not t.args.get("db")]
    if len(uses) != 1 or not isinstance(uses[0].parent, (exp.From, exp.Join)):
        return None
    copy = tree.copy()
    use = [t for t in copy.find_all(exp.Table) if t.name == cte.alias][0]
    alias = use.alias or cte.alias
    use.replace(exp.Subquery(this=copy.args["with"].expressions[0].this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))
    copy.set("with", None)
    return copy


def _joins_to_commas(tree: exp.Expression, schema: Schema) -> exp.Expression | None:
    if not isinstance(tree, exp.Select):
        return None
    joins = _joins(tree)
    if not joins or any(j.args.get("side") or (j.args.get("kind") or "INNER").upper() != "INNER" or not j.args.get("on") for j in joins):
        return None
    copy = tree.copy()
    conditions = []
    for join in _joins(copy):
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
    joins = _joins(tree)
    where = tree.args.get("where")
    if len(joins) != 1 or where is None or not isinstance(where.this, exp.Is):
        return None
    join = joins[0]
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
    copy_join = _joins(copy)[0]
    inner = exp.select("1").from_(copy_join.this.copy()).where(copy_join.args["on"].copy())
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
    Rewrite("aliases_to_names", _aliases_to_names, "Refactor this query to use the full table names instead of table aliases.",
            "uses the full table names instead of table aliases"),
    Rewrite("names_to_aliases", _names_to_aliases, "Refactor this query to give every table a short alias and use it for every column.",
            "gives every table a short alias"),
    Rewrite("qualify_columns", _qualify_columns, "Refactor this query so that every column is qualified with its table name or alias.",
            "qualifies every column with its table"),
    Rewrite("expand_between", _expand_between, "Refactor this query to replace BETWEEN with two explicit comparisons.",
            "writes the BETWEEN range as two comparisons"),
    Rewrite("in_list_to_or", _in_list_to_or, "Refactor this query to write the IN list as OR-ed equality tests.",
            "writes the IN list as OR-ed equality tests"),
    Rewrite("subquery_to_cte", _subquery_to_cte, "Refactor this query so that the nested subquery becomes a common table expression (WITH clause).",
            "moves the subquery into a common table expression"),
    Rewrite("cte_to_subquery", _cte_to_subquery, "Refactor this query to inline the common table expression as a subquery in the FROM clause.",
            "inlines the common table expression as a subquery"),
    Rewrite("anti_join_to_not_exists", _anti_join_to_not_exists, "Refactor this query to replace the LEFT JOIN … IS NULL pattern with NOT EXISTS.",
            "uses NOT EXISTS instead of a LEFT JOIN with an IS NULL test"),
    Rewrite("joins_to_commas", _joins_to_commas, "", "lists the tables with commas and moves the join conditions into WHERE", refactor=False),
    Rewrite("reorder_conditions", _reorder_conditions, "", "lists the WHERE conditions in another order", refactor=False),
)


def rewrites(
    tree: exp.Expression, schema: Schema, runner: SqlRunner | None, context: str, db_path: str | None, *, refactor_only: bool = False
) -> tuple[list[Change], bool]:
    """Every rewrite that applies and returns the same rows; (changes, checked by execution)."""
    original = render(tree)
    can_run = runner is not None and runner.run(original, context, db_path) is not None
    found = []
    for rewrite in REWRITES:
        if refactor_only and not rewrite.refactor:
            continue
        try:
            new = rewrite.apply(tree, schema)
        except (SqlglotError, ValueError, KeyError, AttributeError, TypeError):
            new = None
        if new is None:
            continue
        sql = render(new)
        if same_text(sql, original) or parse_query(sql) is None:
            continue
        if can_run and not equivalent(runner, original, sql, context, db_path, has_order(tree)):  # type: ignore[arg-type]
            continue
        found.append(Change(kind=rewrite.name, sql=sql, instruction=rewrite.instruction, diff=rewrite.diff))
    return found, can_run


# --- translations and styles -----------------------------------------------------------------


def translations(tree: exp.Expression) -> dict[str, str]:
    """dialect → the query in that dialect, for dialects where it reads differently from SQLite."""
    base = _squash(render(tree))
    found = {}
    for dialect in DIALECTS:
        try:
            sql = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
            sqlglot.parse_one(sql, read=dialect)
        except (SqlglotError, ValueError, KeyError):
            continue
        if _squash(sql) != base and _squash(sql) not in {_squash(s) for s in found.values()}:
            found[dialect] = sql
    return found


STYLES: dict[str, str] = {
    "layout": "Reformat this query with each clause on its own line and the select list indented.",
    "explicit": "Rewrite this query in our house style: upper-case keywords and function names, and an explicit AS before every alias.",
}


def styles(tree: exp.Expression, original: str) -> dict[str, str]:
    """style name → the query in that style, where it differs from the original text."""
    found = {}
    pretty = render(tree, pretty=True)
    if "\n" in pretty and "\n" not in original.strip():
        found["layout"] = pretty
    flat = render(tree)
    if not same_text(flat, original) and flat.replace(" AS ", " ") != original.strip().rstrip(";"):
        found["explicit"] = flat
    elif not same_text(flat, original) and " AS " in flat:
        found["explicit"] = flat
    return found


# --- splitting for code context --------------------------------------------------------------


def split_point(text: str, rng: random.Random, low: float = 0.4, high: float = 0.7) -> int | None:
    """A cut at a random 40–70% point, moved to the nearest line break (multi-line text) or space."""
    if len(text) < 16:
        return None
    target = int(len(text) * rng.uniform(low, high))
    separator = "\n" if text.count("\n") >= 2 else " "
    cuts = [i for i, ch in enumerate(text) if ch == separator and 0.25 * len(text) <= i <= 0.85 * len(text)]
    if not cuts:
        return None
    return min(cuts, key=lambda i: (abs(i - target), i))


def iter_nodes(tree: exp.Expression) -> Iterator[exp.Expression]:
    yield from tree.walk()
