"""The columns that fill an offline answer's slots (rag.compose): the measure it aggregates or ranks
by, the values it filters on, the numeric, year and date columns a number is compared with, and
what "per X" groups by."""

from __future__ import annotations

import re
from typing import Any

from rag.compose_words import GROUPING, SALES, TOP, word_offset, word_starts
from rag.linked import Link
from rag.linking import shortest_path
from rag.reading import name_stems
from rag.schema import Table
from rag.values import QUANTITY_WORDS, column_dimension
from rag.words import split_identifier

_PRICE = ("price", "cost", "amount", "fee", "rate")
_QUANTITY = ("quantity", "qty", "count", "unit", "units")


def measure_columns(link: Link, focus: str, tables: dict[str, Table]) -> list[tuple[str, str] | tuple[str, str, str]]:
    """Numeric columns the question names (in the focus or a table it reaches), best first; for
    sales-like words with no named number, a line-item price × quantity."""
    found: list[Any] = []
    for c in link.columns:
        if c.column is None or c.table not in tables:
            continue
        column = tables[c.table].column(c.column)
        strong = c.score >= 0.75 or (c.table in (focus, *link.named_tables) and c.score >= 0.5)
        if column.kind == "number" and strong and not any(r.startswith("holds") for r in c.why) and (c.table, c.column) not in found:
            found.append((c.table, c.column))
    if not found:
        # "the longest track", "how long is a track": a column of the focus holding that kind of quantity
        dims = {d for w in link.reading.words for d in QUANTITY_WORDS.get(w.lower(), ())}
        for name in [focus, *[t for t in link.named_tables if t != focus]]:
            for column in tables[name].columns:
                if column.kind == "number" and column_dimension([w.lower() for w in split_identifier(column.name)]) in dims:
                    found.append((name, column.name))
            if found:
                break
    if SALES.search(link.reading.text) and not found:
        # the nearest table to the focus holding a price (and a quantity: a line item), farther ones after
        distance = {t: len(p) for t in link.table_names if (p := shortest_path(link.schema, focus, t)) is not None}
        distance[focus] = 0
        for name in sorted(distance, key=lambda t: distance[t]):
            table = tables[name]
            price = next((c for c in table.columns if c.kind == "number" and any(w in name_stems(c.name) for w in _PRICE)), None)
            quantity = next(
                (c for c in table.columns if c.kind == "number" and any(w in name_stems(c.name) for w in _QUANTITY) and c is not price),
                None,
            )
            if price is not None and quantity is not None:
                found.append((table.name, price.name, quantity.name))
            elif price is not None:
                found.append((table.name, price.name))
        found.sort(key=lambda m: -len(m))  # a line item's price × quantity before a lone price or cost
    return found


def best_values(link: Link) -> list[Any]:
    """One value per question phrase: the best-scored column holding it (ties: the first linked table)."""
    chosen: dict[tuple[int, int], Any] = {}
    for v in link.values:
        if v.score < 0.5:
            continue
        key = (v.start, v.end)
        worded = set(name_stems(v.table)) & set(link.reading.stems)
        if key not in chosen or (v.score, bool(worded)) > (
            chosen[key].score,
            bool(set(name_stems(chosen[key].table)) & set(link.reading.stems)),
        ):
            chosen[key] = v
    return list(chosen.values())


def counted_after(link: Link, end: int, focus: str) -> str | None:
    """A named table (not the focus) written right after a number: "more than 5 albums"."""
    starts = word_starts(link)
    for i, at in enumerate(starts):
        if at >= end:
            for stem in link.reading.stems[i : i + 2]:
                table = next(
                    (t for t in link.named_tables if t != focus and (link.words_of(t)[-1:] == (stem,) or stem in link.aliases.get(t, ()))),
                    None,
                )
                if table is not None:
                    return table
            return None
    return None


def numeric_near(link: Link, tables: dict[str, Table], text: str, start: int) -> tuple[str, str] | None:
    """The numeric column the question names closest to a compared number."""
    best, distance = None, None
    for c in link.columns:
        if c.column is None or c.table not in tables or any(r.startswith("holds") for r in c.why):
            continue
        if tables[c.table].column(c.column).kind != "number":
            continue
        for stem in name_stems(c.column):
            for i, s in enumerate(link.reading.stems):
                if s != stem:
                    continue
                at = word_offset(text, link.reading.words, i)
                d = abs(at - start)
                if distance is None or d < distance:
                    best, distance = (c.table, c.column), d
    return best


def year_column(link: Link, tables: dict[str, Table], focus: str) -> tuple[str, str] | None:
    """A numeric column of the focus (or a named table) whose name says it holds a year."""
    for name in dict.fromkeys([focus, *link.named_tables]):
        column = next((c for c in tables[name].columns if c.kind == "number" and "year" in name_stems(c.name)), None)
        if column is not None:
            return name, column.name
    return None


def date_column(link: Link, tables: dict[str, Table], focus: str) -> tuple[str, str] | None:
    named = [c for c in link.columns if c.column and c.table in tables and tables[c.table].column(c.column).kind == "date"]
    if named:
        return named[0].table, named[0].column or ""
    for name in [focus, *link.named_tables]:
        date = next((c for c in tables[name].columns if c.kind == "date"), None)
        if date is not None:
            return name, date.name
    return None


def groupings(link: Link, tables: dict[str, Table], text: str, focus: str) -> list[tuple[str, tuple[str, ...]]]:
    """What "per X", "each X", "by X and Y" group by: a table's label columns or a named column."""
    out: list[tuple[str, tuple[str, ...]]] = []
    group: tuple[str, tuple[str, ...]]
    valued = [(v.start, v.end) for v in link.values if v.score >= 0.5]
    for m in GROUPING.finditer(text):
        if any(start < m.end(1) and m.start(1) < end for start, end in valued):
            continue  # "the films by Greywater Studios": a filter on a value, not a grouping
        for word in re.split(r"\s+(?:and|&)\s+|,\s*", m.group(1)):
            stem = tuple(name_stems(word))
            if not stem:
                continue
            column_whole = next(
                (
                    c
                    for c in link.columns
                    if c.column
                    and c.table in tables
                    and c.table in (focus, *link.named_tables)
                    and tuple(name_stems(c.column)) == stem
                    and tables[c.table].column(c.column).kind != "number"
                ),
                None,
            )
            if column_whole is not None and column_whole.column is not None:  # "per age rating" → films.age_rating
                group = (column_whole.table, (column_whole.column,))
                if group not in out:
                    out.append(group)
                continue
            whole = next((t for t in link.table_names if name_stems(t) == stem), None)
            if whole is not None:  # "per media type" → media_types
                group = (whole, link.labels.get(whole, ()))
                if group[1] and group not in out:
                    out.append(group)
                continue
            column = next(
                (
                    c
                    for c in link.columns
                    if c.column
                    and c.table in tables
                    and name_stems(c.column)[-1:] == stem[-1:]
                    and tables[c.table].column(c.column).kind != "number"
                ),
                None,
            )
            table = next((t for t in link.table_names if name_stems(t)[-1:] == stem[-1:]), None)
            if table is not None and (column is None or column.table != focus):
                group = (table, link.labels.get(table, ()))
            elif column is not None and column.column is not None:
                group = (column.table, (column.column,))
            else:
                continue
            if group[1] and group not in out and not (m.group(0).lower().startswith("by") and TOP.search(text) and group[0] == focus):
                out.append(group)
    return out


def aggregate_sql(aggregate: str | None, count: bool, measure: str | None) -> str:
    if measure is not None and aggregate is not None:
        return f"{aggregate}({measure})"
    if measure is not None and not count:
        return f"SUM({measure})"
    return "COUNT(*)"
