"""Exact match (EM), two ways.

`rag.sqltools.normalize_sql` (EM): the query's SQLite tokens joined by single spaces, so
whitespace, keyword and function-name case, identifier quotes and a trailing semicolon do not
matter. Identifier case, string literals and numbers are kept as written.

`canonical_sql` (EM-AST): the query parsed by sqlglot and rewritten by an ordered tuple of small
steps (like sqlglot's optimizer) into one canonical text: identifiers unquoted and lower-cased, columns
qualified with canonical table aliases and `*` expanded from the database's schema, boolean
predicates in conjunctive normal form, then simplified (sorted operands, constants folded),
`INNER JOIN` written `JOIN` and an explicit `ASC` dropped. A step that fails on a query is
skipped, so every query gets a canonical form if it parses at all.

>>> schema = {"books": {"id": "INTEGER", "name": "TEXT", "price": "REAL"}}
>>> canonical_sql("SELECT name FROM books AS b WHERE b.id = 1 AND price > 2", schema)
'SELECT _0.name AS name FROM books AS _0 WHERE _0.id = 1 AND _0.price > 2'
>>> canonical_sql("select books.name from books where 2 < books.price and 1 = books.id", schema)
'SELECT _0.name AS name FROM books AS _0 WHERE _0.id = 1 AND _0.price > 2'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize import normalize
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.simplify import simplify

logging.getLogger("sqlglot").setLevel(logging.ERROR)

Schema = dict[str, dict[str, str]]


# --- the canonicalisation pipeline --------------------------------------------------------------


def _normalize_identifiers(tree: exp.Expr, schema: Schema | None) -> exp.Expr:
    """SQLite identifiers are case-insensitive, quoted or not."""
    for identifier in tree.find_all(exp.Identifier):
        identifier.set("quoted", False)
    return normalize_identifiers(tree, dialect="sqlite")


def _qualify(tree: exp.Expr, schema: Schema | None) -> exp.Expr:
    return qualify(
        tree,
        # sqlglot's `dict[str, object]` is the same nested mapping, typed loosely (dict is invariant)
        schema=cast("dict[str, object] | None", schema or None),
        dialect="sqlite",
        validate_qualify_columns=False,
        quote_identifiers=False,
        identify=False,
        canonicalize_table_aliases=True,
    )


def _normalize_predicates(tree: exp.Expr, schema: Schema | None) -> exp.Expr:
    return normalize(tree, dnf=False)


def _simplify(tree: exp.Expr, schema: Schema | None) -> exp.Expr:
    return simplify(tree, dialect="sqlite")


def _plain_joins_and_order(tree: exp.Expr, schema: Schema | None) -> exp.Expr:
    for join in tree.find_all(exp.Join):
        if (join.args.get("kind") or "").upper() == "INNER":
            join.set("kind", None)
    for ordered in tree.find_all(exp.Ordered):
        if ordered.args.get("desc") is False:
            ordered.set("desc", None)
    return tree


CANONICAL_STEPS: tuple[Callable[[exp.Expr, Schema | None], exp.Expr], ...] = (
    _normalize_identifiers,
    _qualify,
    _normalize_predicates,
    _simplify,
    _plain_joins_and_order,
)


def canonical_sql(sql: str, schema: Schema | None = None) -> str | None:
    """The canonical SQLite text of `sql`, or None when sqlglot cannot parse it."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="sqlite") if t is not None]
    except SqlglotError:
        return None
    if len(trees) != 1:
        return None
    try:
        return _apply_steps(trees[0], schema, copy=False).sql(dialect="sqlite", comments=False)
    except _STEP_ERRORS:
        pass
    # A step failed half-way: start again, keeping each step's input so a failing step is skipped.
    try:
        return _apply_steps(sqlglot.parse_one(sql, read="sqlite"), schema, copy=True).sql(dialect="sqlite", comments=False)
    except (SqlglotError, *_STEP_ERRORS):
        return None


_STEP_ERRORS = (SqlglotError, ValueError, KeyError, TypeError, AttributeError, RecursionError)


def _apply_steps(tree: exp.Expr, schema: Schema | None, *, copy: bool) -> exp.Expr:
    """Run CANONICAL_STEPS in order; with `copy`, a step that raises is skipped instead of failing."""
    for step in CANONICAL_STEPS:
        if not copy:
            tree = step(tree, schema)
            continue
        try:
            tree = step(tree.copy(), schema)
        except _STEP_ERRORS:
            continue
    return tree
