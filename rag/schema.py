"""What a database description holds: tables, columns, foreign keys and join paths (rag.describe reads them).

Plain frozen dataclasses, shared by linking, composing, prompts and synthesis, and the name helpers
they are built with; `label_columns` picks the columns that name a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.words import Noun, noun, words


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
