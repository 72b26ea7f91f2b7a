"""Execution for EX: the example's database, a query's rows, and when two results match.

Gretel-style examples carry their database as a script (`sql_context`: DDL + INSERTs); it is
built in memory once per scoring run (`DatabaseCache`). DDL that SQLite rejects (MySQL or
Postgres types such as ENUM, AUTO_INCREMENT, ARRAY) is transpiled with sqlglot and column types
are reduced to SQLite's type-affinity names; a script that still fails is reported so the
example can be excluded. Spider-style examples point at a SQLite file.

Two results match (`results_match`) when they hold the same rows as multisets (duplicates
count), in the same order only when the gold query has a top-level ORDER BY. Column names and
aliases are ignored; the number and order of columns count. Numbers compare with a small
tolerance (3 equals 3.0), NULL equals NULL, text and blobs compare exactly. This is the one
definition of "the same result": eval's EX and relevance, and synth's rule checks and
false-negative filter (`DatabaseCache.same_result`) all decide through it.

>>> from rag.sandbox import QueryResult
>>> results_match(QueryResult(["a"], [(1,), (2,), (2,)]), QueryResult(["b"], [(2,), (1.0,), (2,)]), ordered=False)
True
>>> results_match(QueryResult(["a"], [(1,), (2,)]), QueryResult(["a"], [(2,), (1,)]), ordered=True)
False
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from rag.corpus import Example
from rag.describe import describe
from rag.errors import DatabaseError, SQLError
from rag.io import atomic_path
from rag.sandbox import QueryResult, ReadOnlyDatabase, build_database_file
from rag.sqltools import parse_sqlite

REL_TOL = 1e-6
ABS_TOL = 1e-9
SCORING_MAX_ROWS = 100_000
_DDL_DIALECTS = ("mysql", "postgres", "tsql")
T = TypeVar("T")


# --- databases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSource:
    """Where an example's database comes from: a script (gretel `sql_context`) or a SQLite file."""

    context: str | None = None
    path: str | None = None

    @classmethod
    def for_example(cls, example: Example) -> DatabaseSource:
        return cls(path=example.db_path) if example.db_path else cls(context=example.context)

    @property
    def key(self) -> str:
        if self.path:
            return f"file:{Path(self.path).expanduser().resolve()}"
        return "script:" + hashlib.sha256((self.context or "").encode()).hexdigest()[:20]


def sqlite_affinity(type_sql: str) -> str:
    """SQLite's column-affinity rules (datatype3.html §3.1) applied to a declared type name."""
    name = type_sql.upper()
    if "INT" in name:
        return "INTEGER"
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in name or not name:
        return "BLOB"
    if any(word in name for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def transpile_script(script: str, dialect: str) -> str:
    """`script` read as `dialect` and written as SQLite, with column types reduced to affinities."""
    statements = []
    for tree in sqlglot.parse(script, read=dialect):
        if tree is None:
            continue
        for column in tree.find_all(exp.ColumnDef):
            kind = column.args.get("kind")
            if kind is not None:  # a bare name: sqlglot would write NUMERIC as REAL, another affinity
                column.set("kind", exp.Var(this=sqlite_affinity(kind.sql(dialect=dialect))))
        for national in list(tree.find_all(exp.National)):  # N'text' is T-SQL, not SQLite
            national.replace(exp.Literal.string(national.this))
        statements.append(tree.sql(dialect="sqlite"))
    return ";\n".join(statements) + ";"


def open_source(source: DatabaseSource, *, timeout_s: float, max_rows: int) -> ReadOnlyDatabase:
    """An example's database opened read-only: its SQLite file, or a private one built from its
    script (`build_database`). One that does not load is a DatabaseError."""
    if source.path:
        return ReadOnlyDatabase.open(source.path, timeout_s=timeout_s, max_rows=max_rows)
    return build_database(source.context or "", timeout_s=timeout_s, max_rows=max_rows)


def build_database(script: str, *, timeout_s: float, max_rows: int) -> ReadOnlyDatabase:
    """A private database from a gretel context, transpiling DDL that SQLite rejects."""
    return _first_that_builds(script, lambda text: ReadOnlyDatabase.from_script(text, timeout_s=timeout_s, max_rows=max_rows))


def write_database(script: str, target: Path, *, timeout_s: float = 30.0) -> Path:
    """A SQLite file at `target` built from a gretel context (transpiled like `build_database`), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def build(text: str) -> Path:
        with atomic_path(target) as tmp:
            tmp.unlink(missing_ok=True)
            build_database_file(tmp, text, timeout_s=timeout_s, max_bytes=1 << 30, what="the context script")
        return target

    return _first_that_builds(script, build)


def _first_that_builds(script: str, build: Callable[[str], T]) -> T:
    """`build` on the script as written, then on its SQLite transpilations from MySQL, Postgres and T-SQL."""
    try:
        return build(script)
    except DatabaseError as native_error:
        first_error = native_error
    for dialect in _DDL_DIALECTS:
        try:
            return build(transpile_script(script, dialect))
        except (DatabaseError, SqlglotError):
            continue
    raise DatabaseError(f"{first_error.message}; sqlglot could not transpile it to SQLite either")


@dataclass
class DatabaseCache:
    """Open databases keyed by source, built once per run; least recently used are closed.

    With `result_capacity` > 0 it also remembers that many query results (`run`), failures
    included: synthesis compares dozens of variants against one query on one database.
    Not thread-safe: use it from one thread (the evaluation scores in the main thread).
    """

    timeout_s: float = 5.0
    max_rows: int = SCORING_MAX_ROWS
    capacity: int = 256
    result_capacity: int = 0
    builds: int = 0
    hits: int = 0
    _open: OrderedDict[str, ReadOnlyDatabase | DatabaseError] = field(default_factory=OrderedDict, repr=False)
    _results: OrderedDict[tuple[str, str], QueryResult | SQLError] = field(default_factory=OrderedDict, repr=False)

    def get(self, source: DatabaseSource) -> ReadOnlyDatabase:
        """The open database for `source`; a source that does not load raises DatabaseError (cached too)."""
        key = source.key
        entry = self._open.get(key)
        if entry is None:
            self.builds += 1
            entry = self._build(source)
            self._open[key] = entry
            while len(self._open) > self.capacity:
                _, evicted = self._open.popitem(last=False)
                if isinstance(evicted, ReadOnlyDatabase):
                    evicted.close()
        else:
            self.hits += 1
            self._open.move_to_end(key)
        if isinstance(entry, DatabaseError):
            raise entry.with_traceback(None)
        return entry

    def run(self, source: DatabaseSource, sql: str) -> QueryResult:
        """`sql`'s rows on `source`'s database, remembered when `result_capacity` allows. Raises
        DatabaseError when the database does not load, SQLError when the query fails."""
        key = (source.key, sql)
        entry = self._results.get(key)
        if entry is None:
            try:
                entry = self.get(source).execute(sql)
            except SQLError as exc:
                entry = exc
            if self.result_capacity > 0:
                self._results[key] = entry
                while len(self._results) > self.result_capacity:
                    self._results.popitem(last=False)
        else:
            self._results.move_to_end(key)
        if isinstance(entry, SQLError):
            raise entry.with_traceback(None)
        return entry

    def same_result(self, source: DatabaseSource, gold_sql: str, pred_sql: str, *, ordered: bool | None = None) -> bool | None:
        """Whether `pred_sql` returns `gold_sql`'s rows on `source`'s database (`results_match`); row
        order counts when `ordered`, by default when the gold query has a top-level ORDER BY.
        None when the database does not load or either query fails."""
        try:
            gold, pred = self.run(source, gold_sql), self.run(source, pred_sql)
        except (DatabaseError, SQLError):
            return None
        return results_match(gold, pred, ordered=has_top_level_order_by(gold_sql) if ordered is None else ordered)

    def _build(self, source: DatabaseSource) -> ReadOnlyDatabase | DatabaseError:
        try:
            return open_source(source, timeout_s=self.timeout_s, max_rows=self.max_rows)
        except DatabaseError as exc:
            return exc

    def close(self) -> None:
        for entry in self._open.values():
            if isinstance(entry, ReadOnlyDatabase):
                entry.close()
        self._open.clear()
        self._results.clear()

    def __enter__(self) -> DatabaseCache:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def schema_of(database: ReadOnlyDatabase) -> dict[str, dict[str, str]]:
    """{table: {column: type affinity}} from the database's description (rag.describe), for sqlglot's
    qualify; empty for a database without tables."""
    if not database.table_names():
        return {}
    return {table.name.lower(): {c.name.lower(): sqlite_affinity(c.type) for c in table.columns} for table in describe(database).tables}


# --- results ----------------------------------------------------------------------------------

_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)


def has_top_level_order_by(sql: str) -> bool:
    """Whether the outermost query sorts its rows (then row order counts for EX).

    >>> has_top_level_order_by("SELECT a FROM (SELECT a FROM t ORDER BY a) LIMIT 3")
    False
    >>> has_top_level_order_by("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")
    True
    """
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return _order_by_outside_parentheses(sql)
    return tree.args.get("order") is not None


def _order_by_outside_parentheses(sql: str) -> bool:
    depth = 0
    for match in re.finditer(r"[()]|\bORDER\s+BY\b", sql, re.IGNORECASE):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and _ORDER_BY.fullmatch(token):
            return True
    return False


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        number = float(value)
        return (1, float(f"{number:.6g}") if math.isfinite(number) else number)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes):
        return (3, value)
    return (4, repr(value))


def values_equal(a: Any, b: Any) -> bool:
    """NULL equals NULL; numbers within a small tolerance (int and float alike); others exactly.

    >>> values_equal(0.1 + 0.2, 0.3), values_equal(3, 3.0), values_equal("3", 3), values_equal(None, None)
    (True, True, False, True)
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _rows_equal(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]]) -> bool:
    return all(len(g) == len(p) and all(values_equal(x, y) for x, y in zip(g, p)) for g, p in zip(gold, pred))


def results_match(gold: QueryResult, pred: QueryResult, *, ordered: bool) -> bool:
    """EX's comparison: same column count, same rows as multisets (or in order when `ordered`)."""
    if len(gold.columns) != len(pred.columns) or len(gold.rows) != len(pred.rows):
        return False
    if ordered:
        return _rows_equal(gold.rows, pred.rows)

    def key(row: Sequence[Any]) -> tuple:
        return tuple(_sort_key(v) for v in row)

    return _rows_equal(sorted(gold.rows, key=key), sorted(pred.rows, key=key))
