"""Offline answers composed from the link: SQL built for this question from the tables, columns and
values it names, without an LLM.

The question's shape is read from its operator words (how many, average, total, highest, top 5,
per / each / by, more than, in 2023) and its linked elements fill the slots:

- the focus: the table the question asks about (the first one it names), shown by its label
  columns (a name or title, rag.describe.label_columns), or counted;
- filters: every linked value (`column = 'stored value'`, as stored, even when misspelled in the
  question), every number with a unit on its converted column, a comparison ("more than 3") on the
  numeric column named next to it, a year on a date column;
- grouping: "per X" / "each X" / "by X" groups by X's label (its name, not its id), and by every
  such X ("per country and city");
- a measure: the numeric column the question names for AVG / SUM / MAX / MIN and for ranking
  ("top 5 artists by sales"); a line-item table's price × quantity when it asks for sales or revenue
  and names no column;
- joins along the foreign-key paths from the focus to every other table used.

Each candidate is rendered in the database's dialect (sqlglot), run read-only by the caller and
scored by how much of the question it accounts for (`coverage`): a question part the SQL does not
use (a second grouping, an unlinked word) lowers the confidence, so the answer abstains rather than
drop it. The candidates are few (one reading, plus the alternatives where the reading is ambiguous).
"""

from __future__ import annotations

import re
from typing import Any

from rag.compose_checks import coverage_of, echoes_filter, sql_words, unused_words
from rag.compose_query import Composed, Query, literal
from rag.compose_slots import (
    aggregate_sql,
    best_values,
    counted_after,
    date_column,
    groupings,
    measure_columns,
    numeric_near,
    year_column,
)
from rag.compose_words import (
    AGGREGATES,
    COUNT,
    DISTINCT,
    LEAST,
    MONTH,
    MONTHS,
    MOST,
    SALES,
    YEAR,
    asks_for_a_row,
    comparison_operator,
    top_count,
    word_starts,
)
from rag.linked import Link
from rag.reading import name_stems
from rag.schema import Table
from rag.sqltools import to_dialect
from rag.words import normalize_word

__all__ = ["compose"]


def compose(link: Link, dialect: str = "sqlite", *, max_candidates: int = 6) -> list[Composed]:
    """Candidate SQL for the linked question, most complete reading first (may be empty)."""
    if link.nothing:
        return []
    schema = link.schema
    text = link.reading.text
    tables = {t.name: t for t in schema.tables}
    focuses = _focuses(link)
    out: list[Composed] = []
    for focus in focuses[:2]:
        measures: list[Any] = measure_columns(link, focus, tables)[:2] or [None]
        for measure in measures:
            built = _build(link, tables, focus, measure, text)
            if built is not None and all(built.sql != c.sql for c in out):
                out.append(built)
    for c in out:
        try:
            c.sql = to_dialect(c.sql, dialect)
        except Exception:  # noqa: BLE001 — a candidate that does not transpile is dropped below
            c.sql = ""
    out = [c for c in out if c.sql]
    out.sort(key=lambda c: -c.coverage)
    return out[:max_candidates]


def _focuses(link: Link) -> list[str]:
    """Tables the question asks about, by where it first names them (a table named by a word before
    one found only through a value)."""
    named = link.named_tables
    stems = link.reading.stems
    starts = word_starts(link)
    qualified = {v.end for v in link.values}

    def position(table: str) -> tuple[int, int]:
        own = link.words_of(table)
        at = next((i for i, s in enumerate(stems) if s in own), None)
        if at is None:
            return (2, named.index(table))
        # "the Jazz genre", "FAMILY tier subscribers": a table named right after a value qualifies it;
        # "film categories": a table named right before another one qualifies that one
        after_value = any(0 <= starts[at] - end <= 1 for end in qualified)
        before_table = at + 1 < len(stems) and any(stems[at + 1] in link.words_of(t) for t in named if t != table)
        return (1 if after_value or before_table else 0, at)

    return sorted(named, key=position)


def _build(link: Link, tables: dict[str, Table], focus: str, measure: Any, text: str) -> Composed | None:
    q = Query(link.schema, focus)
    used: list[str] = []
    missed: list[str] = []
    reading = link.reading
    # filters: values, units, comparisons, years
    for value in best_values(link):
        col = q.col(value.table, value.column)
        if col is None:
            missed.append(f"value {value.value!r}")
            continue
        q.where.append(f"{col} = {literal(value.value)}")
        used.append(f"{value.table}.{value.column} = {value.value!r}")
    numbers_used: set[int] = set()
    having: list[str] = []
    spoken: set[str] = set()  # question words the SQL accounts for beyond names and values (a month)
    unit_rank = {t: i for i, t in enumerate(dict.fromkeys([focus, *link.named_tables]))}
    for unit in sorted(link.units, key=lambda u: unit_rank.get(u.table, len(unit_rank))):
        mention = next((n for n in reading.numbers if n.text == unit.said), None)
        op = comparison_operator(text, mention.start) if mention is not None else None
        if op is None:
            continue
        col = q.col(unit.table, unit.column)
        if col is None:
            continue
        q.where.append(f"{col} {op} {literal(unit.value)}")
        used.append(f"{unit.column} {op} {unit.value:g} ({unit.conversion})")
        numbers_used.add(mention.start if mention else -1)
        break
    for mention in reading.numbers:
        if mention.start in numbers_used or mention.unit is not None:
            continue
        op = comparison_operator(text, mention.start)
        month = MONTH.search(text[max(0, mention.start - 12) : mention.start])
        year = YEAR.search(text[max(0, mention.start - 8) : mention.end + 1]) or month
        yearly = numeric_near(link, tables, text, mention.start)
        if year and 1900 <= mention.value <= 2100 and mention.value == int(mention.value):
            number = int(mention.value)
            if yearly is None or "year" not in name_stems(yearly[1]):
                yearly = year_column(link, tables, focus)
            date = date_column(link, tables, focus) if yearly is None or month else None
            if date is not None and (col := q.col(*date)):
                if month:  # "in December 2023": that month's days
                    m = MONTHS.index(month.group(1).lower()[:3]) + 1
                    low, high = f"{number:04d}-{m:02d}-01", f"{number + (m == 12):04d}-{m % 12 + 1:02d}-01"
                    q.where.append(f"{col} >= '{low}' AND {col} < '{high}'")
                    used.append(f"{date[1]} in {month.group(1)} {number}")
                    spoken.add(normalize_word(month.group(1)))
                else:
                    q.where.append(f"CAST(STRFTIME('%Y', {col}) AS INTEGER) {op or '='} {number}")
                    used.append(f"year of {date[1]} {op or '='} {number}")
                continue
            if yearly is not None and (col := q.col(*yearly)):  # a year held as a number: released_year > 1990
                q.where.append(f"{col} {op or '='} {number}")
                used.append(f"{yearly[1]} {op or '='} {number}")
                if month:  # "in December 2023" on a year column alone: the month is left out
                    missed.append(f"the month {month.group(1)}")
                continue
        if op is None:
            continue
        counted = counted_after(link, mention.end, focus)
        if counted is not None and q.alias(counted) is not None:  # "more than 5 albums": a count per focus row
            having.append(f"COUNT(*) {op} {literal(mention.value)}")
            used.append(f"count of {counted} {op} {mention.text}")
            continue
        target = numeric_near(link, tables, text, mention.start)
        if target is None:
            missed.append(f"comparison with {mention.text}")
            continue
        col = q.col(*target)
        if col is None:
            continue
        q.where.append(f"{col} {op} {literal(mention.value)}")
        used.append(f"{target[1]} {op} {mention.text}")
    flagged: set[tuple[str, ...]] = set()
    for c in link.columns:
        if c.column and c.table in tables and tables[c.table].column(c.column).kind == "boolean" and c.score >= 0.75:
            # a flag of a table the answer already reads ("active members": members.isActive), one per word;
            # a flag elsewhere would join a table only to filter on it
            said = tuple(name_stems(c.column))
            if c.table not in q.aliases or said in flagged:
                continue
            col = q.col(c.table, c.column)
            flagged.add(said)
            if col is not None and not any(col in w for w in q.where):
                q.where.append(f"{col} = 1")
                used.append(f"{c.column} is true")
    filtered = {c.column for c in link.columns if c.column and any(f'"{c.column}"' in w for w in q.where)}
    # groups
    groups = groupings(link, tables, text, focus)
    group_cols: list[str] = []
    group_select: list[str] = []
    for table, columns in groups:
        for column in columns:
            col = q.col(table, column)
            if col is None:
                missed.append(f"grouping by {table}")
                break
            group_cols.append(col)
            group_select.append(col)
        else:
            used.append(f"per {table} ({', '.join(columns)})")
    # shape
    count = bool(COUNT.search(text))
    aggregate = next((name for name, pattern in AGGREGATES if pattern.search(text)), None)
    top = top_count(text)
    measure_used: list[str] = []

    def measure_of() -> str | None:
        """The measure's SQL, joining its table only when a shape uses it."""
        if measure is None:
            return None
        parts = [q.col(measure[0], c) for c in measure[1:]]
        if not all(parts):
            return None
        if not measure_used:
            measure_used.append(" × ".join(measure[1:]))
            used.append(f"measure {measure_used[0]}")
        return " * ".join(p for p in parts if p)

    row_superlative = asks_for_a_row(link, focus)
    label_cols = [q.col(focus, c) for c in link.labels.get(focus, ())]
    labels = [c for c in label_cols if c]
    if not labels:
        return None
    if having and not groups:
        key = [q.col(focus, c) for c in tables[focus].primary_key] or labels
        sql = q.sql(labels, group=[c for c in key if c] + [c for c in labels if c not in key]) + " HAVING " + " AND ".join(having)
        shape = "having"
    elif groups:
        agg = aggregate_sql(aggregate, count, measure_of() if (aggregate or not count) else None)
        order = None
        limit = None
        if top or MOST.search(text) or LEAST.search(text):
            order = f"{agg} {'ASC' if LEAST.search(text) and not top else 'DESC'}"
            limit = top or (1 if not re.search(r"\b(each|every|per)\b", text, re.IGNORECASE) else None)
            if limit is None:
                order = None
        sql = q.sql(group_select + [agg], group=group_cols, order=order, limit=limit)
        shape = "group"
    elif top or (
        (MOST.search(text) or LEAST.search(text)) and not count and (row_superlative or aggregate not in ("MAX", "MIN") or measure is None)
    ):
        # "top 5 artists by sales", "which genre has the most tracks", "the longest track"
        descending = not (LEAST.search(text) and not top)
        other = [t for t in link.named_tables if t != focus]
        measure_sql = measure_of() if measure is not None and (measure[0] == focus or len(measure) == 3 or measure[0] in other) else None
        if measure_sql is not None and measure is not None and measure[0] == focus and (not other or len(measure) == 2):
            sql = q.sql(labels, order=f"{measure_sql} {'DESC' if descending else 'ASC'}", limit=top or 1)
            shape = "superlative"
        else:
            if measure_sql is not None:
                rank = f"SUM({measure_sql})"
            else:
                counted = next((t for t in other if q.alias(t)), None)
                if counted is None:
                    return None
                rank = "COUNT(*)"
                used.append(f"count of {counted}")
            key = [q.col(focus, c) for c in tables[focus].primary_key] or labels
            sql = q.sql(
                labels + [rank],
                group=[c for c in key if c] + [c for c in labels if c not in key],
                order=f"{rank} {'DESC' if descending else 'ASC'}",
                limit=top or 1,
            )
            shape = "top"
    elif count:
        sql = q.sql(["COUNT(*)"])
        shape = "count"
    elif aggregate is not None and (measure_sql := measure_of()) is not None:
        sql = q.sql([f"{aggregate}({measure_sql})"])
        shape = "aggregate"
    else:
        named = [
            c
            for c in link.columns
            if c.table == focus
            and c.column not in link.labels.get(focus, ())
            and c.score >= 0.5
            and c.why[:1]
            and c.why[0].startswith("the question says")
        ]
        named = [c for c in named if c.column not in filtered]
        extra = [col for c in named[:3] if c.column and (col := q.col(focus, c.column))]
        if extra and (DISTINCT.search(text) or any(v.table == focus for v in best_values(link))):
            # "the different genres", "the city of the Harbour branch": the named column alone
            sql = q.sql(extra, distinct=bool(DISTINCT.search(text)))
            shape = "column"
        else:
            sql = q.sql(labels + [c for c in extra if c not in labels], distinct=len(q.aliases) > 1)
            shape = "list"
    explained = set(spoken)
    if measure_used and SALES.search(text):
        explained |= {normalize_word(m.group(0)) for m in SALES.finditer(text)}
    if shape in ("list", "column") and echoes_filter(sql, q):
        return None  # "SELECT name … WHERE name = 'X'" only says X back
    accounted = sql_words(link, q, sql) | explained
    missed += [f"word {w!r} (linked, unused)" for w in unused_words(link, accounted)]
    coverage = coverage_of(link, q, used, missed, accounted)
    return Composed(sql, shape, used, missed, coverage)
