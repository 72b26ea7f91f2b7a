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
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

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
    changes_result: bool | None = None
    tree: exp.Expression | None = field(default=None, repr=False, compare=False)


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


_OPERAND = r"([A-Za-z_][\w.]*)"
_TIDY = (
    (re.compile(rf"\bNOT {_OPERAND} IS NULL\b"), r"\1 IS NOT NULL"),
    (re.compile(rf"\bNOT {_OPERAND} IN \("), r"\1 NOT IN ("),
    (re.compile(rf"\bNOT {_OPERAND} BETWEEN\b"), r"\1 NOT BETWEEN"),
    (re.compile(r"\bEXISTS\("), "EXISTS ("),
)


def tidy(sql: str) -> str:
    """sqlglot writes `NOT x IS NULL`; people write `x IS NOT NULL` (the same for IN and BETWEEN).

    >>> tidy("SELECT a FROM t WHERE NOT t.b IS NULL AND NOT c IN (1, 2)")
    'SELECT a FROM t WHERE t.b IS NOT NULL AND c NOT IN (1, 2)'
    """
    for pattern, replacement in _TIDY:
        sql = pattern.sub(replacement, sql)
    return sql


def render(tree: exp.Expression, dialect: str = "sqlite", pretty: bool = False) -> str:
    return tidy(tree.sql(dialect=dialect, pretty=pretty))


@dataclass(frozen=True)
class Query:
    """A parsed query and its SQLite rendering, computed once (many checks compare against it)."""

    tree: exp.Expression
    sql: str

    @classmethod
    def of(cls, tree: exp.Expression) -> Query:
        return cls(tree, render(tree))


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


def _with(query: exp.Expression) -> exp.With | None:
    return query.args.get("with_") or query.args.get("with")


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
    """A noun phrase for a filter: "the condition that city is equal to 'Springfield'" and friends."""
    if isinstance(cond, exp.Not) and isinstance(cond.this, (exp.In, exp.Like, exp.Between, exp.Exists)):
        inner = describe_condition(cond.this)
        if inner.startswith("the condition that "):
            subject, _, rest = inner.removeprefix("the condition that ").partition(" is ")
            if rest:
                return f"the condition that {subject} is not {rest}"
            if subject.startswith("a matching row exists"):
                return "the condition that no matching row exists in the subquery"
    that = _condition_clause(cond)
    return f"the condition that {that}" if that else "one of its filter conditions"


def _condition_clause(cond: exp.Expression) -> str:
    if type(cond) in OPS:
        return f"{words(cond.this)} is {OPS[type(cond)]} {words(cond.expression)}"
    if isinstance(cond, exp.Like):
        return f"{words(cond.this)} is like {words(cond.expression)}"
    if isinstance(cond, exp.Between):
        return f"{words(cond.this)} is between {words(cond.args['low'])} and {words(cond.args['high'])}"
    if isinstance(cond, exp.In):
        target = "the subquery's result" if cond.args.get("query") else ", ".join(words(e) for e in cond.expressions)
        return f"{words(cond.this)} is in {target}"
    if isinstance(cond, exp.Is):
        return f"{words(cond.this)} is NULL"
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is):
        return f"{words(cond.this.this)} is not NULL"
    if isinstance(cond, exp.Exists):
        return "a matching row exists in the subquery"
    return ""


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


def equivalent(runner: SqlRunner, query: Query, other: str, context: str, db_path: str | None) -> bool | None:
    """Same rows as `query` on the example's database. With ORDER BY the order must match too,
    unless there is no LIMIT (then rows tied on the sort key may come back in another order)."""
    ordered = has_order(query.tree)
    same = runner.same_result(query.sql, other, context, db_path, ordered=ordered)
    if same is False and ordered and not query.tree.args.get("limit"):
        return runner.same_result(query.sql, other, context, db_path, ordered=False)
    return same


# --- mutations: injected bugs ----------------------------------------------------------------


def _nodes(tree: exp.Expression) -> list[exp.Expression]:
    return list(tree.walk())


def mutation_sites(tree: exp.Expression) -> list[tuple[int, int]]:
    """(node position in walk order, mutator number) for every place a known bug can be injected."""
    return [(index, number) for index, node in enumerate(_nodes(tree)) for number, m in enumerate(_MUTATORS) if m.applies(node)]


def apply_mutation(query: Query, site: tuple[int, int]) -> Change | None:
    """The bug at `site`, applied to a copy of the query's tree."""
    copy = query.tree.copy()
    index, number = site
    change = _MUTATORS[number].apply(copy, _nodes(copy)[index])
    if change is None or same_text(change.sql, query.sql):
        return None
    return change


@dataclass(frozen=True)
class _Mutator:
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


def _droppable(node: exp.Expression) -> bool:
    parent = node.parent
    if isinstance(node, (exp.And, exp.Or, exp.Paren)) or parent is None or (type(node) in FLIPPED and _column_pair(node)):
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


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


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
        bug=f"returns up to {_rows(bad)} instead of {good}",
        diff=f"returns up to {_rows(bad)}, while the first returns up to {good}",
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
    _Mutator("flipped_comparison", _filter_comparison, _flip_comparison),
    _Mutator("swapped_aggregate", lambda n: type(n) in SWAPPED, _swap_aggregate),
    _Mutator("flipped_order", lambda n: isinstance(n, exp.Ordered), _flip_order),
    _Mutator("dropped_condition", _droppable, _drop_condition),
    _Mutator("switched_join", lambda n: isinstance(n, exp.Join), _switch_join),
    _Mutator("shifted_limit", lambda n: isinstance(n, exp.Limit), _shift_limit),
    _Mutator("dropped_distinct", lambda n: isinstance(n, exp.Select) and bool(n.args.get("distinct")), _drop_distinct),
)


def find_bugs(
    query: Query, runner: SqlRunner | None, context: str, db_path: str | None, rng: random.Random, limit: int = 2
) -> tuple[list[Change], bool]:
    """Up to `limit` bugs of different kinds, tried in random order, each kept only when it changes
    the result (when the query runs on its database). Returns (bugs, checked by execution)."""
    sites = mutation_sites(query.tree)
    rng.shuffle(sites)
    original = query.sql
    can_run = runner is not None and runner.run(original, context, db_path) is not None
    kept: list[Change] = []
    for site in sites:
        if _MUTATORS[site[1]].kind in {k.kind for k in kept}:
            continue
        change = apply_mutation(query, site)
        if change is None:
            continue
        if can_run and runner.same_result(original, change.sql, context, db_path, ordered=has_order(query.tree)) is not False:  # type: ignore[union-attr]
            continue
        kept.append(change)
        if len(kept) >= limit:
            break
    return kept, can_run


# --- edits: instruction-driven modifications -------------------------------------------------


def find_edits(
    query: Query, schema: Schema, runner: SqlRunner | None, context: str, db_path: str | None, rng: random.Random, limit: int = 2
) -> list[Change]:
    """Up to `limit` modifications a user could ask for, tried in random order; each must run
    (when a database is at hand), and a contrast that does not run is dropped."""
    tree = query.tree
    if not isinstance(tree, exp.Select):
        return []
    base = runner.run(query.sql, context, db_path) if runner is not None else None
    makers = list(_EDITS)
    rng.shuffle(makers)
    found: list[Change] = []
    for make in makers:
        change = make(tree, schema, runner, context, db_path, rng, base)
        if change is None:
            continue
        if base is not None:
            result = runner.run(change.sql, context, db_path)  # type: ignore[union-attr]
            if result is None:
                continue
            change.changes_result = not result.same(base, ordered=True)
            if not change.changes_result and change.kind == "add_distinct":
                continue  # a DISTINCT that removes nothing is no modification at all
            if change.contrast and runner.run(change.contrast, context, db_path) is None:  # type: ignore[union-attr]
                change.contrast = change.contrast_diff = ""
        found.append(change)
        if len(found) >= limit:
            break
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
        return render(tree.copy().order_by(exp.Ordered(this=exp.column(name), desc=desc, nulls_first=not desc), copy=False))

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
        sql=render(tree.copy().limit(n, copy=False)),
        instruction=f"Return only the first {n} row{'s' if n > 1 else ''}.",
        diff=f"returns only the first {n} row{'s' if n > 1 else ''}",
        contrast=render(tree.copy().limit(other, copy=False)),
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
    if len(tables) != 1 or _joins(tree) or tree.find(exp.Subquery) or _with(tree):
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


def _edit_filter(tree, schema, runner, context, db_path, rng, base) -> Change | None:
    """One more equality filter on a categorical text column of the first table (a value that
    occurs at least twice, in a column with at least two such values)."""
    if runner is None or _with(tree):
        return None
    tables = _tables(tree)
    if not tables:
        return None
    table = tables[0]
    filtered_already = {c.name for c in (tree.args.get("where") or exp.Where()).find_all(exp.Column)}
    text_columns = [c for c, kind in schema.get(table.name, {}).items() if ("CHAR" in kind or "TEXT" in kind) and c not in filtered_already]
    rng.shuffle(text_columns)
    for column in text_columns[:4]:
        probe = (
            f'SELECT "{column}", COUNT(*) FROM "{table.name}" WHERE "{column}" IS NOT NULL '
            f"GROUP BY 1 HAVING COUNT(*) >= 2 ORDER BY 2 DESC, 1 LIMIT 6"
        )
        values = runner.run(probe, context, db_path)
        if values is None or len(values.rows) < 2 or any(_DATE_LIKE.match(str(v[0])) for v in values.rows):
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


_EDITS = (_edit_order, _edit_limit, _edit_aggregate, _edit_column, _edit_filter, _edit_distinct)


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
    if not any(not n.args.get("query") and n.expressions for n in tree.find_all(exp.In)):
        return None
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
        column = _output_name(projection)
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
    with_ = _with(tree)
    if with_ is None or len(with_.expressions) != 1 or with_.args.get("recursive"):
        return None
    cte = with_.expressions[0]
    uses = [t for t in tree.find_all(exp.Table) if t.name == cte.alias and not t.args.get("db")]
    if len(uses) != 1 or not isinstance(uses[0].parent, (exp.From, exp.Join)):
        return None
    copy = tree.copy()
    use = [t for t in copy.find_all(exp.Table) if t.name == cte.alias][0]
    alias = use.alias or cte.alias
    use.replace(exp.Subquery(this=_with(copy).expressions[0].this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))
    copy.set("with_" if "with_" in copy.args else "with", None)
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


FALLBACK_REWRITES = frozenset({"qualify_columns", "reorder_conditions"})


def find_rewrites(
    query: Query,
    schema: Schema,
    runner: SqlRunner | None,
    context: str,
    db_path: str | None,
    rng: random.Random,
    limit: int = 1,
    *,
    refactor_only: bool = False,
    memo: dict[str, exp.Expression | None] | None = None,
) -> tuple[list[Change], bool]:
    """Up to `limit` rewrites, tried in random order, each kept only when it returns the same rows
    (when the query runs on its database). Returns (rewrites, checked by execution). `memo`
    (rewrite name → result) lets several calls on one query share the work."""
    original, tree = query.sql, query.tree
    can_run = runner is not None and runner.run(original, context, db_path) is not None
    candidates = [r for r in REWRITES if r.refactor or not refactor_only]
    rng.shuffle(candidates)
    candidates.sort(key=lambda r: r.name in FALLBACK_REWRITES)  # they apply almost everywhere: try the others first
    memo = {} if memo is None else memo
    found = []
    for rewrite in candidates:
        if rewrite.name not in memo:
            try:
                memo[rewrite.name] = rewrite.apply(tree, schema)
            except (SqlglotError, ValueError, KeyError, AttributeError, TypeError):
                memo[rewrite.name] = None
        new = memo[rewrite.name]
        if new is None:
            continue
        sql = render(new)
        if same_text(sql, original):
            continue
        if can_run and not equivalent(runner, query, sql, context, db_path):  # type: ignore[arg-type]
            continue
        found.append(Change(kind=rewrite.name, sql=sql, instruction=rewrite.instruction, diff=rewrite.diff, tree=new))
        if len(found) >= limit:
            break
    return found, can_run


# --- translations and styles -----------------------------------------------------------------


def for_translation(tree: exp.Expression) -> exp.Expression:
    """A copy to translate from: sqlglot marks SQLite's COUNT as 64-bit, which T-SQL would spell COUNT_BIG."""
    tree = tree.copy()
    for count in tree.find_all(exp.Count):
        count.set("big_int", None)
    return tree


_SELF_ALIAS = re.compile(r"\b((?:\w+\.)?(\w+)) AS \2\b")


def translate(tree: exp.Expression, dialect: str) -> str | None:
    """The query (see `for_translation`) in `dialect`, or None when sqlglot cannot express part of it
    there. Aliases that repeat the column name (`m.title AS title`, added for T-SQL CTEs) are dropped."""
    try:
        return _SELF_ALIAS.sub(r"\1", tidy(tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)))
    except (SqlglotError, ValueError, KeyError):
        return None


def token_change(a: str, b: str) -> int:
    """How many word/symbol tokens differ between two texts (multiset symmetric difference)."""
    ta, tb = Counter(_TOKEN.findall(a.lower())), Counter(_TOKEN.findall(b.lower()))
    return sum(((ta - tb) + (tb - ta)).values())


_TOKEN = re.compile(r"\w+|[^\w\s]")


PROBE_DIALECTS = ("tsql", "postgres")
_NULLS = re.compile(r"\s+NULLS\s+(?:FIRST|LAST)\b", re.IGNORECASE)


def find_translations(query: Query, rng: random.Random, limit: int = 2, min_change: int = 2) -> dict[str, str]:
    """Up to `limit` dialects (random order) where the query reads differently from SQLite by at
    least `min_change` tokens, not counting `AS` before aliases or spelled-out NULLS FIRST/LAST
    (`LIMIT 2` → `TOP 2` counts); dialect → translated SQL."""
    base = _drop_as(query.sql)
    tree = for_translation(query.tree)

    def differs(sql: str | None) -> bool:
        return sql is not None and token_change(_NULLS.sub("", _drop_as(sql)), base) >= min_change

    # most queries read the same everywhere: two dialects that rewrite the most (functions, LIMIT)
    # decide that before the others are tried
    probes = {d: translate(tree, d) for d in PROBE_DIALECTS}
    if not any(differs(sql) for sql in probes.values()):
        return {}
    seen = {_squash(base)}
    dialects = list(DIALECTS)
    rng.shuffle(dialects)
    found: dict[str, str] = {}
    for dialect in dialects:
        sql = probes[dialect] if dialect in probes else translate(tree, dialect)
        if sql is None or _squash(_drop_as(sql)) in seen or not differs(sql):
            continue
        seen.add(_squash(_drop_as(sql)))
        found[dialect] = sql
        if len(found) >= limit:
            break
    return found


STYLES: dict[str, str] = {
    "layout": "Reformat this query with each clause on its own line and the select list indented.",
    "explicit": "Rewrite this query in our house style: upper-case keywords and function names, and an explicit AS before every alias.",
}


def styles(query: Query, original: str) -> dict[str, str]:
    """style name → the query in that style, where it differs from the original text."""
    found = {}
    pretty = render(query.tree, pretty=True)
    if "\n" in pretty and "\n" not in original.strip():
        found["layout"] = pretty
    flat = query.sql
    # only keyword/function case and AS differ: the change the instruction describes, nothing else
    if not same_text(flat, original) and _squash(_drop_as(flat)) == _squash(_drop_as(original)):
        found["explicit"] = flat
    return found


def _drop_as(sql: str) -> str:
    return re.sub(r"\s+AS\s+", " ", sql, flags=re.IGNORECASE)


# --- splitting for code context --------------------------------------------------------------


_CLAUSE = re.compile(r"\s(?=(?:FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT|(?:LEFT |INNER |CROSS )?JOIN|ON|AND|OR|UNION|INTERSECT|EXCEPT|SELECT|WITH)\b)", re.IGNORECASE)


def split_point(text: str, rng: random.Random, low: float = 0.4, high: float = 0.7, language: str = "") -> int | None:
    """A cut near a random 40–70% point: at a clause keyword for SQL, else at a line break
    (multi-line text) or a space; only cuts within 25–85% of the text qualify."""
    if len(text) < 16:
        return None
    target = int(len(text) * rng.uniform(low, high))
    if language == "sql":
        cuts = [m.start() for m in _CLAUSE.finditer(text)]
    else:
        separator = "\n" if text.count("\n") >= 2 else " "
        cuts = [i for i, ch in enumerate(text) if ch == separator]
    cuts = [i for i in cuts if 0.25 * len(text) <= i <= 0.85 * len(text)]
    if not cuts:
        return None
    return min(cuts, key=lambda i: (abs(i - target), i))
