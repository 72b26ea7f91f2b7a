"""A SELECT under construction for an offline answer (rag.compose): the tables joined from the focus
along foreign keys, each aliased, with its filters; and the candidate it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.linking import shortest_path
from rag.schema import DatabaseSchema, ForeignKey


@dataclass
class Composed:
    """One candidate: its SQL (in the database's dialect), what it used and what it left out."""

    sql: str
    shape: str
    used: list[str] = field(default_factory=list)  # question parts the SQL accounts for
    missed: list[str] = field(default_factory=list)  # question parts it does not
    coverage: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"sql": self.sql, "shape": self.shape, "used": self.used, "missed": self.missed, "coverage": round(self.coverage, 3)}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value) == int(value) else repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


class Query:
    """A SELECT under construction: tables joined from the focus along foreign keys, each aliased."""

    def __init__(self, schema: DatabaseSchema, focus: str) -> None:
        self.schema = schema
        self.aliases = {focus: "T1"}
        self.joins: list[str] = []
        self.where: list[str] = []
        self.focus = focus

    def alias(self, table: str) -> str | None:
        """The table's alias, joining it along the shortest foreign-key path first (None: unreachable)."""
        if table in self.aliases:
            return self.aliases[table]
        path = None
        for start in list(self.aliases):
            found = shortest_path(self.schema, start, table)
            if found is not None and (path is None or len(found) < len(path)):
                path = found
        if path is None:
            return None
        current = next(t for t in self.aliases if _touches(path[0], t))
        for fk in path:
            nxt = fk.ref_table if fk.table == current else fk.table
            if nxt not in self.aliases:
                self.aliases[nxt] = f"T{len(self.aliases) + 1}"
                on = " AND ".join(
                    f"{self.aliases[fk.table]}.{quote(a)} = {self.aliases[fk.ref_table]}.{quote(b)}"
                    for a, b in zip(fk.columns, fk.ref_columns)
                )
                self.joins.append(f"JOIN {quote(nxt)} AS {self.aliases[nxt]} ON {on}")
            current = nxt
        return self.aliases[table]

    def col(self, table: str, column: str) -> str | None:
        alias = self.alias(table)
        return None if alias is None else f"{alias}.{quote(column)}"

    def sql(
        self,
        select: list[str],
        *,
        group: list[str] | None = None,
        order: str | None = None,
        limit: int | None = None,
        distinct: bool = False,
    ) -> str:
        parts = [f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(select)} FROM {quote(self.focus)} AS T1"]
        parts += self.joins
        if self.where:
            parts.append("WHERE " + " AND ".join(self.where))
        if group:
            parts.append("GROUP BY " + ", ".join(group))
        if order:
            parts.append("ORDER BY " + order)
        if limit:
            parts.append(f"LIMIT {limit}")
        return " ".join(parts)


def _touches(fk: ForeignKey, table: str) -> bool:
    return table in (fk.table, fk.ref_table)
