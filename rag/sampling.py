"""Reading one table of a database, bounded: its columns, row count, a few sampled rows, and each
column's kind and kept values (rag.describe puts the tables together).

Row counts fall back to a rowid estimate when counting runs past the time limit, sample rows are
read in a few short rowid ranges spread over the table (`LIMIT`, never a full scan), long text and
blobs are never held, and each column keeps at most `max_values` distinct values."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, TypeGuard

from rag.engines import Database
from rag.errors import SQLError
from rag.schema import Column, Table, is_key_name, quote_identifier
from rag.servers import ServerDatabase
from rag.sqltools import to_dialect

LONG_TEXT = 120  # characters: longer values are descriptions, not something a question quotes
_SAMPLE_RANGES = 5
_KEPT_SAMPLE_ROWS = 24
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_BOOLEAN_NAME = re.compile(r"^(is|has|can|was|allow|enable|active|deleted|flag)", re.IGNORECASE)


def query_rows(db: Database, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of a query written in SQLite's SQL (transpiled for a database by URL), None when it fails."""
    try:
        return db.execute(to_dialect(sql, db.dialect)).rows
    except SQLError:
        return None


def on_server(db: Database) -> TypeGuard[ServerDatabase]:
    """A database by URL (rag.engines): introspected by SQLAlchemy, no PRAGMAs or rowids."""
    return db.dialect != "sqlite"


def user_tables(db: Database) -> tuple[list[str], list[str]]:
    """Ordinary tables, and the skipped ones (virtual tables and their shadow tables)."""
    names = db.table_names()
    if on_server(db):
        return names, []
    listed = query_rows(db, "PRAGMA table_list")
    if listed is None:
        return names, []
    kinds = {row[1]: row[2] for row in listed if row[0] == "main"}
    kept = [n for n in names if kinds.get(n, "table") == "table"]
    return kept, [n for n in names if n not in kept]


def read_table(db: Database, name: str, *, sample_rows: int, max_values: int) -> Table:
    quoted = quote_identifier(name)
    if on_server(db):  # the rows PRAGMA table_info would give
        key = db.primary_key(name)
        info = [(i, c, t, 0, None, key.index(c) + 1 if c in key else 0) for i, (c, t) in enumerate(db.columns().get(name, []))]
    else:
        info = query_rows(db, f"PRAGMA table_info({quoted})") or []
    # cid, name, type, notnull, default, pk (position in the primary key, 0 when not part of it)
    pk = tuple(str(row[1]) for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    rows, exact = _row_count(db, quoted)
    sample = _sample(db, quoted, [str(r[1]) for r in info], rows, sample_rows) if info else []
    columns = []
    for index, row in enumerate(info):
        values = [r[index] for r in sample]
        columns.append(_column(str(row[1]), str(row[2] or ""), str(row[1]) in pk, not row[3], values, max_values))
    kept = tuple(tuple(_storable(v) for v in r) for r in sample[:: max(1, len(sample) // _KEPT_SAMPLE_ROWS)][:_KEPT_SAMPLE_ROWS])
    return Table(name=name, columns=tuple(columns), primary_key=pk, rows=rows, rows_exact=exact, sample=kept)


def _row_count(db: Database, quoted: str) -> tuple[int, bool]:
    """count(*), or max(rowid) − min(rowid) + 1 when counting runs past the time limit."""
    counted = query_rows(db, f"SELECT count(*) FROM {quoted}")
    if counted:
        return int(counted[0][0]), True
    bounds = _rowid_bounds(db, quoted)
    return (bounds[1] - bounds[0] + 1, False) if bounds else (0, False)


def _rowid_bounds(db: Database, quoted: str) -> tuple[int, int] | None:
    """The smallest and largest rowid, each read from the end of the table's b-tree (SQLite
    optimises a lone min() or max() only, so two queries); None without rowids or rows."""
    if on_server(db):
        return None
    low = query_rows(db, f"SELECT min(rowid) FROM {quoted}")
    high = query_rows(db, f"SELECT max(rowid) FROM {quoted}")
    if not low or not high or low[0][0] is None or high[0][0] is None:
        return None
    return int(low[0][0]), int(high[0][0])


def _sample(db: Database, quoted: str, columns: list[str], rows: int, n: int) -> list[tuple[Any, ...]]:
    """Up to `n` rows: the whole table when small, else `_SAMPLE_RANGES` rowid ranges spread over
    it (a WITHOUT ROWID table: its first `n` rows). Long values come back as b'' (never held)."""
    if on_server(db):  # its first `n` rows; long text is dropped here rather than in SQL
        first = query_rows(db, f"SELECT {', '.join(map(quote_identifier, columns))} FROM {quoted} LIMIT {n}") or []
        return [tuple(b"" if isinstance(v, (str, bytes)) and len(v) > LONG_TEXT else v for v in row) for row in first]
    select = ", ".join(f"CASE WHEN length({c}) > {LONG_TEXT} THEN zeroblob(0) ELSE {c} END" for c in map(quote_identifier, columns))
    if rows <= n:
        return query_rows(db, f"SELECT {select} FROM {quoted} LIMIT {n}") or []
    bounds = _rowid_bounds(db, quoted)
    if bounds is None:
        return query_rows(db, f"SELECT {select} FROM {quoted} LIMIT {n}") or []
    low, high = bounds
    per_range = max(1, n // _SAMPLE_RANGES)
    sample: list[tuple[Any, ...]] = []
    for i in range(_SAMPLE_RANGES):
        start = low + (high - low) * i // _SAMPLE_RANGES
        chunk = query_rows(db, f"SELECT {select} FROM {quoted} WHERE rowid >= {start} ORDER BY rowid LIMIT {per_range}")
        sample.extend(chunk or [])
    return sample


def _storable(value: Any) -> Any:
    return None if isinstance(value, bytes) else value


def _column(name: str, declared: str, pk: bool, nullable: bool, values: list[Any], max_values: int) -> Column:
    present = [v for v in values if v is not None]
    usable = [v for v in present if not isinstance(v, bytes)]
    counts = Counter(usable)
    kind = _kind(name, declared, pk, usable, len(present))
    sayable = Counter({v: n for v, n in counts.items() if quotable(v, kind)})
    return Column(
        name=name,
        type=declared,
        pk=pk,
        nullable=nullable and not pk,
        kind=kind,
        values=_keep_values(sayable, max_values),
        distinct=len(counts),
        sampled=len(present),
        nulls=len(values) - len(present),
    )


def quotable(value: Any, kind: str) -> bool:
    """Whether a question can quote the value: of the column's own type (a number in a number
    column, text in a text or date column) and, for text, short, on one line, not blank."""
    if kind in ("number", "boolean"):
        return isinstance(value, (int, float))
    if isinstance(value, str):
        return bool(value.strip()) and len(value) <= 80 and value.isprintable()
    return kind == "key"


def _keep_values(counts: Counter[Any], limit: int) -> tuple[Any, ...]:
    """The `limit` most frequent values; values tied in frequency that do not all fit are picked
    evenly across the sample (so they come from every sampled range, not only the first)."""
    by_count: dict[int, list[Any]] = {}
    for value, n in counts.items():
        by_count.setdefault(n, []).append(value)
    kept: list[Any] = []
    for n in sorted(by_count, reverse=True):
        room = limit - len(kept)
        if room <= 0:
            break
        tied = by_count[n]
        kept.extend(tied if len(tied) <= room else tied[:: -(-len(tied) // room)][:room])
    return tuple(kept)


def _kind(name: str, declared: str, pk: bool, usable: list[Any], present: int) -> str:
    """key, number, boolean, date, text or other, from the name, the declared type and the values."""
    upper = declared.upper()
    numbers = [v for v in usable if isinstance(v, (int, float))]
    texts = [v for v in usable if isinstance(v, str)]
    if is_key_name(name) or (pk and (numbers or "INT" in upper)):
        return "key"
    if present and len(usable) < present / 2:
        return "other"  # mostly blobs or long text
    if numbers and len(numbers) >= len(texts):
        if set(numbers) <= {0, 1} and (_BOOLEAN_NAME.match(name) or "BOOL" in upper or len(numbers) >= 10):
            return "boolean"  # named like a flag, typed as one, or only ever 0 and 1
        return "number"
    if texts:
        if sum(bool(_DATE.match(t)) for t in texts) >= 0.8 * len(texts):
            return "date"
        return "text"
    if any(word in upper for word in ("DATE", "TIME")):
        return "date"
    if "BOOL" in upper:
        return "boolean"
    if any(word in upper for word in ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "number"
    if any(word in upper for word in ("CHAR", "TEXT", "CLOB")):
        return "text"
    return "other"
