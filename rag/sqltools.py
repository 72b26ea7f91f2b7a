"""SQL post-processing: extract → parse → validate, as an ordered tuple of small pure steps.

A model's answer may wrap the query in code fences, prefix it with "SQLQuery:", surround it with
prose, or give several statements. `postprocess` returns the first SQLite SELECT statement it
finds, or raises `SQLError` with `kind` saying why there is none.

>>> postprocess("Sure! ```sql\\nSELECT name FROM t WHERE id = 1;\\n``` Hope it helps.")
'SELECT name FROM t WHERE id = 1'
>>> postprocess("SQLQuery: SELECT 1")
'SELECT 1'
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from rag.errors import SQLError

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)
_PREFIX = re.compile(r"^\s*(?:SQLQuery|SQL query|SQL|Query|Answer)\s*:\s*", re.IGNORECASE)
_START = re.compile(r"\b(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|ATTACH|DETACH|PRAGMA|VACUUM)\b", re.IGNORECASE)
_MAX_STARTS = 20
_STOP = re.compile(r"\n\s*(?:SQLResult|Answer|Explanation|Question|Note)\s*:", re.IGNORECASE)

# Statement types that read only. Everything else (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER,
# ATTACH, PRAGMA, ...) is refused before execution; the sandbox's authorizer refuses them again.
_READ_ONLY = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Merge)

_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def extract_candidates(text: str) -> list[str]:
    """Candidate SQL snippets in the order a reader would try them: fenced blocks, then bare text."""
    if not text or not text.strip():
        raise SQLError("the model's answer is empty", kind="no_sql")
    candidates = [block.strip() for block in _FENCE.findall(text) if block.strip()]
    candidates.append(text.strip())
    return candidates


def cut_statements(candidate: str) -> list[str]:
    """Statements starting at each SQL keyword (prose may say "select" too), cut at a semicolon
    or a trailing 'Answer:'-style line."""
    candidate = _PREFIX.sub("", candidate)
    found = []
    for start in list(_START.finditer(candidate))[:_MAX_STARTS]:
        body = candidate[start.start():]
        stop = _STOP.search(body)
        if stop:
            body = body[: stop.start()]
        statements = [s for s in split_statements(body) if s.strip()]
        if statements:
            found.append(statements[0].strip())
    return found


def split_statements(script: str) -> list[str]:
    """The statements of a script, without their semicolons and leading comments.

    SQLite's own tokenizer (`sqlite3.complete_statement`) decides where one ends, so semicolons
    inside quotes, comments or trigger bodies do not split; a trailing statement without a
    semicolon counts too.

    >>> split_statements("SELECT 'a;b'; /* note; */ SELECT 2")
    ["SELECT 'a;b'", 'SELECT 2']
    """
    statements, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending[:-1])
            pending = ""
    statements.append(pending[:-1])
    cleaned = (_LEADING_COMMENTS.sub("", s, count=1).strip() for s in statements)
    return [s for s in cleaned if s]


def parse_sqlite(sql: str) -> exp.Expression:
    """Parse one statement with sqlglot's SQLite dialect."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SQLError(f"SQL does not parse as SQLite: {first}", kind="parse_error", sql=sql) from None
    if len(statements) != 1:
        raise SQLError(f"expected one SQL statement, found {len(statements)}", kind="parse_error", sql=sql)
    return statements[0]


def validate_read_only(tree: exp.Expression, sql: str) -> None:
    """Refuse anything that is not a single read-only query."""
    if any(isinstance(node, _WRITES) for node in tree.walk()):
        raise SQLError("only read-only SELECT queries are allowed", kind="forbidden", sql=sql)
    if not isinstance(tree, _READ_ONLY):
        raise SQLError(f"expected a SELECT query, got {tree.key.upper()}", kind="not_select", sql=sql)


def postprocess(text: str) -> str:
    """Extract, parse and validate: the SQL to run, without a trailing semicolon."""
    last_error: SQLError | None = None
    for candidate in extract_candidates(text):
        for sql in cut_statements(candidate):
            try:
                for check in VALIDATORS:
                    check(sql)
                return sql
            except SQLError as exc:
                if last_error is None or exc.kind != "parse_error":
                    last_error = exc
    if last_error is not None:
        raise last_error
    raise SQLError("no SQL query found in the model's answer", kind="no_sql")


def _check_parses_read_only(sql: str) -> None:
    validate_read_only(parse_sqlite(sql), sql)


VALIDATORS: tuple[Callable[[str], None], ...] = (_check_parses_read_only,)


def validate_user_sql(sql: str) -> str:
    """SQL typed by a person (`coderag sql`, the UI's edit box): one read-only statement."""
    statements = [s for s in split_statements(sql) if s.strip()]
    if not statements:
        raise SQLError("the SQL is empty", kind="no_sql")
    if len(statements) > 1:
        raise SQLError("only one SQL statement can run at a time", kind="forbidden", sql=sql)
    statement = statements[0].strip()
    for check in VALIDATORS:
        check(statement)
    return statement
