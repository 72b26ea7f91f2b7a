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

The parts: rag.schema (what a description holds), rag.sampling (reading one table),
rag.foreignkeys (declared and inferred links, join paths), rag.diskcache (kept between processes).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from rag.diskcache import data_stamp, disk_cached
from rag.engines import open_location
from rag.errors import DatabaseError
from rag.foreignkeys import declared_foreign_keys, infer_foreign_keys, join_paths, mark_keys
from rag.sampling import read_table, user_tables
from rag.schema import DatabaseSchema


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
    names, skipped = user_tables(db)
    if not names:
        raise DatabaseError("the database has no tables", hint="add a table, or point coderag at another database")
    skipped += names[max_tables:]
    names = names[:max_tables]
    reading = progress(names) if progress is not None else names
    tables = [read_table(db, name, sample_rows=sample_rows, max_values=max_values) for name in reading]
    declared = [fk for name in names for fk in declared_foreign_keys(db, name, tables)]
    tables = mark_keys(tables, declared)
    inferred = infer_foreign_keys(db, tables, declared)
    tables = mark_keys(tables, inferred)
    links = tuple(declared + inferred)
    described = DatabaseSchema(
        tables=tuple(tables),
        foreign_keys=links,
        join_paths=join_paths(links),
        fingerprint=fingerprint,
        skipped_tables=tuple(skipped),
        seconds=time.perf_counter() - started,
    )
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = described
    on_disk.save(described)
    return described
