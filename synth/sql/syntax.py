"""Parsing, rendering and small AST helpers shared by every transformation family.

>>> Query.of(parse_query("select a from t where not t.b is null")).sql
'SELECT a FROM t WHERE t.b IS NOT NULL'
>>> same_text("SELECT 1;", " select   1 ")
True
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

from rag.documents import schema_only
from rag.sqltools import normalize_sql

logging.getLogger("sqlglot").setLevel(logging.ERROR)

QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except)

Schema = dict[str, dict[str, str]]


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
    """The tree as SQL in `dialect`, tidied the way people write it."""
    return tidy(tree.sql(dialect=dialect, pretty=pretty))


@dataclass(frozen=True)
class Query:
    """A parsed query and its SQLite rendering, computed once (many checks compare against it)."""

    tree: exp.Expression
    sql: str

    @classmethod
    def of(cls, tree: exp.Expression) -> Query:
        return cls(tree, render(tree))

    @property
    def ordered(self) -> bool:
        """Whether the outermost query sorts its rows (then row order is part of its result)."""
        return bool(self.tree.args.get("order"))


def same_text(a: str, b: str) -> bool:
    """Equal up to case, whitespace and a trailing semicolon."""
    return normalize_sql(a, tokens=False) == normalize_sql(b, tokens=False)


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


# sqlglot renamed some argument keys (from → from_, with → with_); these read either spelling


def from_clause(select: exp.Expression) -> exp.From | None:
    return select.args.get("from_") or select.args.get("from")


def with_clause(query: exp.Expression) -> exp.With | None:
    return query.args.get("with_") or query.args.get("with")


def joins(select: exp.Expression) -> list[exp.Join]:
    return list(select.args.get("joins") or [])


def tables(select: exp.Select) -> list[exp.Table]:
    """The tables of one SELECT's FROM and JOIN clauses (not those of nested queries)."""
    found = []
    source = from_clause(select)
    if source is not None and isinstance(source.this, exp.Table):
        found.append(source.this)
    found.extend(j.this for j in joins(select) if isinstance(j.this, exp.Table))
    return found


def nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every node in walk order: a position in this list names a node in any copy of the tree."""
    # sqlglot types `walk` as yielding `Expr` (its base, with mixins such as Condition); every node
    # of a parsed tree is an instance of a concrete class, and those are all `Expression`s
    return cast(list[exp.Expression], list(tree.walk()))


def is_aggregate_query(select: exp.Select) -> bool:
    return bool(select.args.get("group")) or any(s.find(exp.AggFunc) for s in select.expressions)


def in_scope_of(node: exp.Expression, root: exp.Expression) -> bool:
    """True when `node` belongs to `root`'s own SELECT, not to a nested query."""
    return node.find_ancestor(exp.Select) is root


def output_name(projection: exp.Expression) -> str:
    """The column name a projection gives its output ('' for `*`)."""
    return projection.alias_or_name if not isinstance(projection, exp.Star) else ""
