"""sqlglot AST builders for synthesized queries: identifiers quoted only when SQLite needs it.

People write `SELECT name FROM customers`, not `SELECT "name" FROM "customers"`, so a name is
quoted only when it is not a plain ASCII identifier or is one of SQLite's keywords; then it is
double-quoted with inner quotes doubled (sqlglot does the escaping).

>>> from synth.sql.syntax import render
>>> render(exp.select(column("Unit Price", "T1")).from_(table("order", "T1")).where(exp.EQ(this=column("it's"), expression=literal("O'Neill"))))
'SELECT T1."Unit Price" FROM "order" AS T1 WHERE "it\\'s" = \\'O\\'\\'Neill\\''
>>> nice_number(47.83), nice_number(0.8143), nice_number(1234), nice_number(7)
(48, 0.81, 1200, 7)
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

# https://sqlite.org/lang_keywords.html
SQLITE_KEYWORDS = frozenset(
    """
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN BETWEEN BY
CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE
CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP
EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM
FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD
INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL
NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE
RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW
ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE
UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
""".split()
)
# words that SQLite accepts bare but sqlglot reads as something else (checked one by one)
_PARSER_WORDS = frozenset({"ANY", "SOME", "TRUE", "FALSE", "UNKNOWN", "FETCH"})
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def needs_quotes(name: str) -> bool:
    """Whether SQLite (or sqlglot reading it back) needs `name` quoted."""
    return not _PLAIN.match(name) or name.upper() in SQLITE_KEYWORDS or name.upper() in _PARSER_WORDS


def identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=needs_quotes(name))


def table(name: str, alias: str | None = None) -> exp.Table:
    node = exp.Table(this=identifier(name))
    if alias:
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return node


def column(name: str, alias: str | None = None) -> exp.Column:
    return exp.Column(this=identifier(name), table=exp.to_identifier(alias) if alias else None)


def literal(value: Any) -> exp.Expression:
    """A Python value as a SQL literal (SQLite compares it under the column's affinity)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.Literal.number(str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value))
    return exp.Literal.string(str(value))


def nice_number(value: float | int) -> float | int:
    """A round threshold near `value` (two significant digits), as people pick them."""
    if value == 0:
        return 0
    rounded = float(f"{value:.2g}")
    return int(rounded) if rounded.is_integer() else rounded


def star_count() -> exp.Count:
    return exp.Count(this=exp.Star())


def order(node: exp.Expr, descending: bool) -> exp.Ordered:
    """`node [DESC]` with SQLite's own NULL placement (NULLs sort first), so no NULLS clause is written."""
    return exp.Ordered(this=node, desc=descending, nulls_first=not descending)


def join_on(left: list[exp.Column], right: list[exp.Column]) -> exp.Condition:
    """`l1 = r1 AND l2 = r2 …` for a (possibly composite) key."""
    return exp.and_(*(exp.EQ(this=a, expression=b) for a, b in zip(left, right)))
