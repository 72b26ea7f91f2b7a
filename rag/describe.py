"""One description of a database on every engine: tables, columns, keys, join paths and sampled values.

`describe(database)` reads an open database (SQLite's `ReadOnlyDatabase` or a server's, rag.engines)
and is cached by schema fingerprint and row counts, so linking, prompts, synthesis and the UI share
one reading; `introspect(path)` opens a file or URL first. Everything is read read-only and
time-limited, and every
read is bounded so that databases with hundreds of tables or million-row tables stay cheap:
row counts fall back to a rowid estimate when counting runs past the time limit, sample rows
are read in a few short rowid ranges spread over the table (`LIMIT`, never a full scan), long
text and blobs are never held, and each column keeps at most `max_values` distinct values.

Foreign keys come from the schema; where they are missing, keys with matching names are linked
(`orders.customer_id` → `customers.customer_id`, or `author_id` → `authors.id`) when the sampled
values agree. Join paths are the one- and two-hop walks along those links.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rag.engines import open_location
from rag.errors import DatabaseError, SQLError
from rag.sandbox import ReadOnlyDatabase
from rag.sqltools import to_dialect
from rag.words import Noun, noun, words

LONG_TEXT = 120  # characters: longer values are descriptions, not something a question quotes
_SAMPLE_RANGES = 5
_KEPT_SAMPLE_ROWS = 24
_MAX_JOIN_PATHS = 2_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_BOOLEAN_NAME = re.compile(r"^(is|has|can|was|allow|enable|active|deleted|flag)", re.IGNORECASE)


def quote_identifier(name: str) -> str:
    """A name as a double-quoted SQLite identifier (for introspection SQL only)."""
    return '"' + name.replace('"', '""') + '"'


def is_key_name(name: str) -> bool:
    """Whether a column's name says it is an identifier: id, customer_id, customerID."""
    parts = words(name)
    return parts[-1].lower() == "id"


def key_stem(name: str) -> str:
    """What a key column refers to, in lower-case words: 'customer_id' → 'customer'."""
    parts = words(name)
    return " ".join(parts[:-1]).lower() if parts and parts[-1].lower() == "id" else ""


@dataclass(frozen=True)
class Column:
    """A column and what its sampled values say about it.

    `kind`: key (an identifier), number, boolean, date, text, or other (blobs, long text, no
    usable values). `values` holds at most `max_values` distinct sampled values, most frequent first.
    """

    name: str
    type: str
    pk: bool
    nullable: bool
    kind: str
    values: tuple[Any, ...] = ()
    distinct: int = 0
    sampled: int = 0
    nulls: int = 0

    @property
    def categorical(self) -> bool:
        """Few distinct values, each repeated: something rows are grouped or filtered by."""
        return 2 <= self.distinct <= 25 and self.sampled >= 2 * self.distinct

    @property
    def unique(self) -> bool:
        return self.sampled > 0 and self.distinct == self.sampled


@dataclass(frozen=True)
class ForeignKey:
    """`table.columns` refers to `ref_table.ref_columns`; `inferred` when found by matching names."""

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    inferred: bool = False

    def __str__(self) -> str:
        arrow = "~>" if self.inferred else "->"
        return f"{self.table}({', '.join(self.columns)}) {arrow} {self.ref_table}({', '.join(self.ref_columns)})"


@dataclass(frozen=True)
class JoinPath:
    """A walk over two or three tables along foreign keys (each link may point either way)."""

    tables: tuple[str, ...]
    links: tuple[ForeignKey, ...]


@dataclass(frozen=True)
class Table:
    """A table: its columns, primary key, row count (exact, or a rowid estimate) and a few rows."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    rows: int
    rows_exact: bool = True
    sample: tuple[tuple[Any, ...], ...] = field(default=(), repr=False)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def noun(self) -> Noun:
        return noun(self.name)


@dataclass(frozen=True)
class DatabaseSchema:
    """What synthesis knows about a database. `fingerprint` hashes the schema's DDL (not the path)."""

    tables: tuple[Table, ...]
    foreign_keys: tuple[ForeignKey, ...]
    join_paths: tuple[JoinPath, ...]
    fingerprint: str
    skipped_tables: tuple[str, ...] = ()
    seconds: float = 0.0

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def summary(self, max_tables: int = 30) -> str:
        """A few lines for display: counts, then one line per table (keys marked), then the links."""
        declared = sum(not fk.inferred for fk in self.foreign_keys)
        inferred = len(self.foreign_keys) - declared
        lines = [
            f"{len(self.tables)} tables, {sum(len(t.columns) for t in self.tables)} columns, "
            f"{declared} foreign keys + {inferred} inferred, {len(self.join_paths)} join paths "
            f"(fingerprint {self.fingerprint}, read in {self.seconds:.2f} s)"
        ]
        for table in self.tables[:max_tables]:
            count = f"{table.rows:,}" if table.rows_exact else f"~{table.rows:,}"
            columns = ", ".join(c.name + (" PK" if c.pk else "") for c in table.columns[:12])
            more = f", … {len(table.columns) - 12} more" if len(table.columns) > 12 else ""
            lines.append(f"  {table.name} ({count} rows): {columns}{more}")
        if len(self.tables) > max_tables:
            lines.append(f"  … and {len(self.tables) - max_tables} more tables")
        lines.extend(f"  {fk}" for fk in self.foreign_keys[:max_tables])
        if self.skipped_tables:
            lines.append(f"  skipped: {len(self.skipped_tables)} tables (virtual, shadow, or over the table cap)")
        return "\n".join(lines)


def introspect(
    path: str | Path,
    *,
    timeout_s: float = 5.0,
    sample_rows: int = 500,
    max_values: int = 25,
    max_tables: int = 1_000,
    allow_privileged_role: bool = False,
) -> DatabaseSchema:
    """Read the schema of the SQLite file at `path` and sample its values, read-only and bounded.

    `sample_rows` rows per table are read (in rowid ranges spread over the table) and each column
    keeps its `max_values` most frequent distinct values; `timeout_s` limits every single query.
    A missing, non-SQLite or corrupt file, or one without tables, raises DatabaseError.
    """
    with open_location(path, timeout_s=timeout_s, max_rows=max(sample_rows, 1_000), allow_privileged_role=allow_privileged_role) as db:
        try:
            return describe(db, sample_rows=sample_rows, max_values=max_values, max_tables=max_tables)
        except DatabaseError as exc:
            raise DatabaseError(f"no tables in {path}", hint="synthesis needs at least one table") from exc


_CACHE: dict[tuple[Any, ...], DatabaseSchema] = {}
_CACHE_SIZE = 8


def describe(
    db: Any,
    *,
    sample_rows: int = 500,
    max_values: int = 25,
    max_tables: int = 1_000,
    progress: Any = None,
    cache_dir: Path | None = None,
) -> DatabaseSchema:
    """The description of an open database (any engine), read once per schema and data state.

    Cached in this process by the schema's fingerprint, the table row counts' cheap stand-in (the
    SQLite file's size and modification time, or a server's schema text) and the bounds; a
    database without tables is a DatabaseError. `progress` (a tqdm-like callable over an iterable)
    shows the per-table reading of a large database. With `cache_dir` (home/links), a database
    file's description is also kept on disk for the next process (`disk_cached`)."""
    schema_sql = db.schema_sql()
    fingerprint = hashlib.sha256(" ".join(schema_sql.split()).encode()).hexdigest()[:16]
    key = (fingerprint, data_stamp(db), sample_rows, max_values, max_tables, getattr(db, "timeout_s", None))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    on_disk = disk_cached(cache_dir, "describe", db, key)
    cached = on_disk.load()
    if isinstance(cached, DatabaseSchema):
        _CACHE[key] = cached
        return cached
    started = time.perf_counter()
    names, skipped = _user_tables(db)
    if not names:
        raise DatabaseError("the database has no tables", hint="add a table, or point coderag at another database")
    skipped += names[max_tables:]
    names = names[:max_tables]
    reading = progress(names) if progress is not None else names
    tables = [_read_table(db, name, sample_rows=sample_rows, max_values=max_values) for name in reading]
    declared = [fk for name in names for fk in _declared_foreign_keys(db, name, tables)]
    tables = _mark_keys(tables, declared)
    inferred = _infer_foreign_keys(db, tables, declared)
    tables = _mark_keys(tables, inferred)
    links = tuple(declared + inferred)
    described = DatabaseSchema(
        tables=tuple(tables),
        foreign_keys=links,
        join_paths=_join_paths(links),
        fingerprint=fingerprint,
        skipped_tables=tuple(skipped),
        seconds=time.perf_counter() - started,
    )
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = described
    on_disk.save(described)
    return described


@dataclass(frozen=True)
class DiskCache:
    """One cached object of one database file, in `home/links/<kind>-<file>-<state>.pkl`: read back
    while the file's schema, size, modification time and the bounds are the same; written
    atomically, replacing that file's older entries of this kind. A server database (no file to
    stamp) and a cache that cannot be read or written only cost time."""

    path: Path | None

    def load(self) -> Any:
        if self.path is None:
            return None
        try:
            with open(self.path, "rb") as handle:
                return pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            return None

    def save(self, value: Any) -> None:
        if self.path is None:
            return
        from rag.io import atomic_path

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for old in self.path.parent.glob(self.path.name.rsplit("-", 1)[0] + "-*.pkl"):
                old.unlink(missing_ok=True)
            with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            pass


def disk_cached(cache_dir: Path | None, kind: str, db: Any, key: tuple[Any, ...]) -> DiskCache:
    """Where `kind` (describe, values) of the database file behind `db` is cached for `key`."""
    path = getattr(db, "path", None)
    if cache_dir is None or path is None:
        return DiskCache(None)
    of_file = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
    state = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    return DiskCache(Path(cache_dir) / f"{kind}-{of_file}-{state}.pkl")


def data_stamp(db: Any) -> tuple[Any, ...]:
    """What changes when a SQLite file's rows change (its size and modification time); a server
    database's description is kept for the process's life (its schema is already in the key)."""
    path = getattr(db, "path", None)
    if path is None:
        return (id(db),) if getattr(db, "dialect", "sqlite") == "sqlite" else ()
    try:
        stat = Path(path).stat()
    except OSError:
        return (str(path),)
    return (str(path), stat.st_size, stat.st_mtime_ns)


def _query(db: ReadOnlyDatabase, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of a query written in SQLite's SQL (transpiled for a database by URL), None when it fails."""
    try:
        return db.execute(to_dialect(sql, db.dialect)).rows
    except SQLError:
        return None


def _server(db: Any) -> bool:
    """A database by URL (rag.engines): introspected by SQLAlchemy, no PRAGMAs or rowids."""
    return db.dialect != "sqlite"


def _user_tables(db: ReadOnlyDatabase) -> tuple[list[str], list[str]]:
    """Ordinary tables, and the skipped ones (virtual tables and their shadow tables)."""
    names = db.table_names()
    if _server(db):
        return names, []
    listed = _query(db, "PRAGMA table_list")
    if listed is None:
        return names, []
    kinds = {row[1]: row[2] for row in listed if row[0] == "main"}
    kept = [n for n in names if kinds.get(n, "table") == "table"]
    return kept, [n for n in names if n not in kept]


def _read_table(db: ReadOnlyDatabase, name: str, *, sample_rows: int, max_values: int) -> Table:
    quoted = quote_identifier(name)
    if _server(db):  # the rows PRAGMA table_info would give
        key = db.primary_key(name)
        info = [(i, c, t, 0, None, key.index(c) + 1 if c in key else 0) for i, (c, t) in enumerate(db.columns().get(name, []))]
    else:
        info = _query(db, f"PRAGMA table_info({quoted})") or []
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


def _row_count(db: ReadOnlyDatabase, quoted: str) -> tuple[int, bool]:
    """count(*), or max(rowid) − min(rowid) + 1 when counting runs past the time limit."""
    counted = _query(db, f"SELECT count(*) FROM {quoted}")
    if counted:
        return int(counted[0][0]), True
    bounds = _rowid_bounds(db, quoted)
    return (bounds[1] - bounds[0] + 1, False) if bounds else (0, False)


def _rowid_bounds(db: ReadOnlyDatabase, quoted: str) -> tuple[int, int] | None:
    """The smallest and largest rowid, each read from the end of the table's b-tree (SQLite
    optimises a lone min() or max() only, so two queries); None without rowids or rows."""
    if _server(db):
        return None
    low = _query(db, f"SELECT min(rowid) FROM {quoted}")
    high = _query(db, f"SELECT max(rowid) FROM {quoted}")
    if not low or not high or low[0][0] is None or high[0][0] is None:
        return None
    return int(low[0][0]), int(high[0][0])


def _sample(db: ReadOnlyDatabase, quoted: str, columns: list[str], rows: int, n: int) -> list[tuple[Any, ...]]:
    """Up to `n` rows: the whole table when small, else `_SAMPLE_RANGES` rowid ranges spread over
    it (a WITHOUT ROWID table: its first `n` rows). Long values come back as b'' (never held)."""
    if _server(db):  # its first `n` rows; long text is dropped here rather than in SQL
        rows = _query(db, f"SELECT {', '.join(map(quote_identifier, columns))} FROM {quoted} LIMIT {n}") or []
        return [tuple(b"" if isinstance(v, (str, bytes)) and len(v) > LONG_TEXT else v for v in row) for row in rows]
    select = ", ".join(f"CASE WHEN length({c}) > {LONG_TEXT} THEN zeroblob(0) ELSE {c} END" for c in map(quote_identifier, columns))
    if rows <= n:
        return _query(db, f"SELECT {select} FROM {quoted} LIMIT {n}") or []
    bounds = _rowid_bounds(db, quoted)
    if bounds is None:
        return _query(db, f"SELECT {select} FROM {quoted} LIMIT {n}") or []
    low, high = bounds
    per_range = max(1, n // _SAMPLE_RANGES)
    sample: list[tuple[Any, ...]] = []
    for i in range(_SAMPLE_RANGES):
        start = low + (high - low) * i // _SAMPLE_RANGES
        chunk = _query(db, f"SELECT {select} FROM {quoted} WHERE rowid >= {start} ORDER BY rowid LIMIT {per_range}")
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


def _declared_foreign_keys(db: ReadOnlyDatabase, name: str, tables: list[Table]) -> list[ForeignKey]:
    """The table's FOREIGN KEY clauses whose parent exists (a missing parent column means its key)."""
    known = {t.name.lower(): t for t in tables}
    if _server(db):  # the rows PRAGMA foreign_key_list would give
        rows = [
            (i, j, parent, mine, theirs)
            for i, (parent, cols, refs) in enumerate(db.foreign_keys(name))
            for j, (mine, theirs) in enumerate(zip(cols, refs))
        ]
    else:
        rows = _query(db, f"PRAGMA foreign_key_list({quote_identifier(name)})") or []
    # id, seq, table, from, to, on_update, on_delete, match
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(int(row[0]), []).append(row)
    found = []
    for _, parts in sorted(grouped.items()):
        parts.sort(key=lambda r: r[1])
        parent = known.get(str(parts[0][2]).lower())
        if parent is None:
            continue
        columns = tuple(str(r[3]) for r in parts)
        refs = tuple(str(r[4]) for r in parts) if all(r[4] for r in parts) else parent.primary_key
        if len(refs) != len(columns) or not all(any(c.name == r for c in parent.columns) for r in refs):
            continue
        found.append(ForeignKey(name, columns, parent.name, refs))
    return found


def _mark_keys(tables: list[Table], links: list[ForeignKey]) -> list[Table]:
    """Columns that take part in a foreign key are keys, whatever their values look like."""
    linked = {(fk.table, c) for fk in links for c in fk.columns} | {(fk.ref_table, c) for fk in links for c in fk.ref_columns}
    return [
        replace(table, columns=tuple(replace(c, kind="key") if (table.name, c.name) in linked else c for c in table.columns))
        for table in tables
    ]


def _infer_foreign_keys(db: ReadOnlyDatabase, tables: list[Table], declared: list[ForeignKey]) -> list[ForeignKey]:
    """Links by matching key names where the schema declares none, kept when sampled values agree.

    `A.x_id` refers to B when B's key is also called `x_id`, or when B is the table of x's
    (`author_id` → authors) and its key is `id`. B's key is its one-column primary key or, in a
    table without one, a same-named column whose sampled values are unique.
    """
    linked = {(fk.table, fk.columns) for fk in declared} | {(fk.ref_table, fk.ref_columns) for fk in declared}
    pairs = {frozenset((fk.table, fk.ref_table)) for fk in declared}
    stems = {t.name: _stems(t) for t in tables}
    named_after: dict[str, list[Table]] = {}  # a stem → the tables it names
    keyed: dict[str, list[Table]] = {}  # a key column's name → the tables holding it
    for t in tables:
        for stem in stems[t.name]:
            named_after.setdefault(stem, []).append(t)
        for c in t.columns:
            keyed.setdefault(c.name.lower(), []).append(t)
    found: list[ForeignKey] = []
    for table in tables:
        for column in table.columns:
            stem = key_stem(column.name)
            if not stem or (table.name, (column.name,)) in linked:
                continue
            # the table named after the key first ("part_id" → parts), then those holding a key of the
            # same name or of the name's ending (start_station_id → station_id), in schema order
            parts = column.name.lower().split("_")
            suffixes = ["_".join(parts[i:]) for i in range(len(parts) - 1)]
            candidates = [
                *named_after.get(stem, ()),
                *named_after.get(stem.split(" ")[-1], ()),
                *(t for s in suffixes for t in keyed.get(s, ())),
            ]
            for parent in dict.fromkeys(candidates):
                if parent is table or frozenset((table.name, parent.name)) in pairs:
                    continue
                target = _referenced_key(column.name, stem, parent)
                if target is None:
                    continue
                sole_pk = table.primary_key == (column.name,)
                if sole_pk and stem not in stems[parent.name]:
                    continue  # two tables keyed by the same name: link toward the table it names
                if _values_agree(db, column, parent, target):
                    found.append(ForeignKey(table.name, (column.name,), parent.name, (target.name,), inferred=True))
                    pairs.add(frozenset((table.name, parent.name)))
                    break
    return found


def _stems(table: Table) -> set[str]:
    return {table.noun.singular.lower(), table.noun.plural.lower(), " ".join(words(table.name)).lower()}


def _referenced_key(name: str, stem: str, parent: Table) -> Column | None:
    """The parent's key that `name` refers to: the same name, `id` in the table `stem` names, or a
    role in front of the key's name (`start_station_id` → `station_id`, `home_city_id` → cities)."""
    lowered = name.lower()
    for candidate in parent.columns:
        key = candidate.name.lower()
        same_name = key == lowered
        named_after = key == "id" and (stem in _stems(parent) or stem.split(" ")[-1] in _stems(parent))
        role = is_key_name(candidate.name) and key != "id" and lowered.endswith("_" + key)
        if not (same_name or named_after or role):
            continue
        if parent.primary_key == (candidate.name,) or (not parent.primary_key and (candidate.unique or parent.rows == 0)):
            return candidate
    return None


def _values_agree(db: ReadOnlyDatabase, column: Column, parent: Table, target: Column) -> bool:
    """At least half of a few sampled values of `column` occur in `parent.target` (true when
    there is nothing to compare)."""
    probe = [v for v in column.values if isinstance(v, (int, str))][:5]
    if not probe or parent.rows == 0:
        return True
    listed = ", ".join(str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in probe)
    rows = _query(
        db,
        f"SELECT count(DISTINCT {quote_identifier(target.name)}) FROM {quote_identifier(parent.name)} "
        f"WHERE {quote_identifier(target.name)} IN ({listed})",
    )
    return bool(rows) and 2 * int(rows[0][0]) >= len(probe)


def _join_paths(links: tuple[ForeignKey, ...]) -> tuple[JoinPath, ...]:
    """Every one-hop link (self-references left out) and two-hop walks A–B–C through a shared
    table, each walk once (not also reversed); at most `_MAX_JOIN_PATHS`."""
    edges = [fk for fk in links if fk.table != fk.ref_table]
    paths = [JoinPath((fk.table, fk.ref_table), (fk,)) for fk in edges]
    seen: set[tuple[str, ...]] = set()
    for i, first in enumerate(edges):
        for second in edges[i + 1 :]:
            if len(paths) >= _MAX_JOIN_PATHS:
                return tuple(paths)
            shared = {first.table, first.ref_table} & {second.table, second.ref_table}
            if len(shared) != 1:
                continue
            middle = shared.pop()
            start = first.ref_table if first.table == middle else first.table
            end = second.ref_table if second.table == middle else second.table
            if len({start, middle, end}) < 3 or (start, middle, end) in seen:
                continue
            seen.update({(start, middle, end), (end, middle, start)})
            paths.append(JoinPath((start, middle, end), (first, second)))
    return tuple(paths)


def label_columns(table: Table) -> tuple[Column, ...]:
    """The column(s) that name a row: first + last name, else the most name-like text column
    (a name or title, mostly distinct values), else the primary key (up to three columns), else
    the first column a question can mention."""
    texts = [c for c in table.columns if c.kind == "text"]

    def parts(c: Column) -> list[str]:
        return [w.lower() for w in words(c.name)]

    first = next((c for c in texts if parts(c)[0] in ("first", "given", "fore") and parts(c)[-1] == "name"), None)
    last = next((c for c in texts if parts(c)[0] in ("last", "family", "sur") and parts(c)[-1] == "name" or parts(c) == ["surname"]), None)
    if first and last:
        return (first, last)

    def score(c: Column) -> float:
        named = any(w in ("name", "title", "label") for w in parts(c))
        distinct = c.sampled > 0 and c.distinct >= 0.8 * c.sampled
        return 3 * named + 2 * distinct - 2 * c.categorical - table.columns.index(c) / 100

    ranked = sorted(texts, key=score, reverse=True)
    if ranked and score(ranked[0]) > 1:
        return (ranked[0],)
    keys = tuple(table.column(name) for name in table.primary_key)
    if 1 <= len(keys) <= 3:
        return keys
    return (ranked[0],) if ranked else tuple(c for c in table.columns if c.kind in ("text", "number", "date", "boolean"))[:1]
