"""What a question is linked to (rag.linking makes it; retrieval, the prompt, the offline answer and
the confidence take it): the tables, columns, values and units it names, ranked, with their reasons,
the joins between them and the columns that name each table's rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.reading import Reading, name_stems
from rag.schema import DatabaseSchema, ForeignKey
from rag.values import UnitHit, ValueHit

__all__ = ["Link", "Linked"]


@dataclass(frozen=True)
class Linked:
    """A linked table (column None) or column, its score (0-1+) and the reasons."""

    table: str
    column: str | None
    score: float
    why: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "score": round(self.score, 3), "why": list(self.why)}
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass
class Link:
    """What a question names in its database. `tables` are ranked (the confident ones first, then
    those the retriever adds for the prompt), `joins` connect them, `labels` name each table's rows."""

    reading: Reading
    schema: DatabaseSchema
    tables: list[Linked] = field(default_factory=list)
    columns: list[Linked] = field(default_factory=list)
    values: list[ValueHit] = field(default_factory=list)
    units: list[UnitHit] = field(default_factory=list)
    joins: list[ForeignKey] = field(default_factory=list)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unlinked: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table → question words that mean it ("movies" → films)
    value_bound: str | None = None  # the value index's bound, when one cut it short
    confident: int = 0  # how many of `tables` the question names itself (the rest: retriever's picks, bridges)

    @property
    def table_names(self) -> list[str]:
        return [t.table for t in self.tables]

    @property
    def named_tables(self) -> list[str]:
        """The tables the question itself names (by a word, a column, a value), best first."""
        return [t.table for t in self.tables[: self.confident]]

    def words_of(self, table: str) -> tuple[str, ...]:
        """The question's words for a table: its name's stems, and any word the retriever matched to it."""
        return name_stems(table) + self.aliases.get(table, ())

    @property
    def nothing(self) -> bool:
        """Nothing in the question was linked to the database."""
        return self.confident == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": [t.to_json() for t in self.tables],
            "named_tables": self.named_tables,
            "columns": [c.to_json() for c in self.columns[:24]],
            "values": [v.to_json() for v in self.values],
            "units": [u.to_json() for u in self.units],
            "joins": [str(fk) for fk in self.joins],
            "labels": {t: list(c) for t, c in self.labels.items()},
            "aliases": {t: list(w) for t, w in self.aliases.items()},
            "unlinked": list(self.unlinked),
            "bounds": self.bounds,
        }

    @property
    def bounds(self) -> list[str]:
        """The limits that cut what linking could see (a huge database is read bounded, and says so)."""
        out = []
        if self.schema.skipped_tables:
            out.append(
                f"{len(self.schema.skipped_tables):,} tables were not read (virtual, or past the first 1,000: rag.describe's max_tables)"
            )
        if self.value_bound:
            out.append(f"the value index stops at {self.value_bound}")
        return out
