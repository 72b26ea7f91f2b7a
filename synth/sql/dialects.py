"""The same query in other SQL dialects (translations) and other layouts (styles).

sqlglot writes the translation; one is kept only when it reads differently from SQLite (a
portable query has no translation worth a triplet)."""

from __future__ import annotations

import random
import re
from collections import Counter

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from rag.sqltools import normalize_sql
from synth.sql.syntax import Query, render, same_text, tidy

DIALECTS: dict[str, str] = {
    "postgres": "PostgreSQL",
    "mysql": "MySQL",
    "tsql": "SQL Server (T-SQL)",
    "oracle": "Oracle",
    "duckdb": "DuckDB",
    "bigquery": "BigQuery",
    "snowflake": "Snowflake",
}


def dialect_key(display: str) -> str | None:
    """The sqlglot dialect behind a display name.

    >>> dialect_key("SQL Server (T-SQL)"), dialect_key("Klingon")
    ('tsql', None)
    """
    return next((key for key, name in DIALECTS.items() if name == display), None)


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
    seen = {normalize_sql(base, tokens=False)}
    dialects = list(DIALECTS)
    rng.shuffle(dialects)
    found: dict[str, str] = {}
    for dialect in dialects:
        sql = probes[dialect] if dialect in probes else translate(tree, dialect)
        if sql is None or normalize_sql(_drop_as(sql), tokens=False) in seen or not differs(sql):
            continue
        seen.add(normalize_sql(_drop_as(sql), tokens=False))
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
    if not same_text(flat, original) and normalize_sql(_drop_as(flat), tokens=False) == normalize_sql(_drop_as(original), tokens=False):
        found["explicit"] = flat
    return found


def _drop_as(sql: str) -> str:
    return re.sub(r"\s+AS\s+", " ", sql, flags=re.IGNORECASE)
