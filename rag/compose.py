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
from dataclasses import dataclass, field
from typing import Any

from rag.linking import IGNORED_WORDS, Link, name_stems, shortest_path
from rag.schema import DatabaseSchema, ForeignKey, Table
from rag.sqltools import to_dialect
from rag.values import QUANTITY_WORDS, column_dimension
from rag.words import normalize_word, split_identifier

__all__ = ["Composed", "compose", "grouping_gap", "reads_named_table"]

_COUNT = re.compile(r"\b(how many|number of|count of|count the)\b", re.IGNORECASE)
_AGG = [
    ("AVG", re.compile(r"\b(average|mean|avg)\b", re.IGNORECASE)),
    ("SUM", re.compile(r"\b(total|sum|overall|combined|in all)\b", re.IGNORECASE)),
    (
        "MAX",
        re.compile(r"\b(maximum|max|highest|largest|biggest|greatest|longest|most expensive|latest|newest|oldest birth)\b", re.IGNORECASE),
    ),
    ("MIN", re.compile(r"\b(minimum|min|lowest|smallest|shortest|cheapest|least expensive|earliest)\b", re.IGNORECASE)),
]
_TOP = re.compile(
    r"\b(?:top|first|best|leading)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\b|\b(\d+|two|three|four|five|ten)\s+(?:most|highest|largest|biggest|best|top)\b",
    re.IGNORECASE,
)
_WHICH_N = re.compile(r"\b(?:which|what|the|list|show)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+[^\W\d]", re.IGNORECASE)
_MOST = re.compile(r"\b(most|highest|largest|biggest|greatest|longest|maximum|best)\b", re.IGNORECASE)
_LEAST = re.compile(r"\b(least|fewest|lowest|smallest|shortest|minimum|cheapest|worst)\b", re.IGNORECASE)
_GROUP = re.compile(
    r"\b(?:per|each|every|by|for each|for every|in each|broken down by|grouped by|across)\s+((?:[^\W\d_]+)(?:\s+[^\W\d_]+){0,2}?(?:\s*(?:and|&|,)\s*[^\W\d_]+(?:\s+[^\W\d_]+){0,2}?)*)(?=\s*(?:[?.!,;]|$|\b(?:have|has|had|is|are|was|were|do|does|did|in|on|with|for|from|that|who|which)\b))",
    re.IGNORECASE,
)
_COMPARE = [
    (">=", re.compile(r"\b(at least|no less than|(?:greater|more|higher|larger|longer|bigger) than or equal to)\s*$", re.IGNORECASE)),
    ("<=", re.compile(r"\b(at most|no more than|up to)\s*$", re.IGNORECASE)),
    (
        ">",
        re.compile(
            r"\b(more than|greater than|over|above|longer than|bigger than|larger than|higher than|exceeds?|exceeding|after)\s*$",
            re.IGNORECASE,
        ),
    ),
    ("<", re.compile(r"\b(less than|fewer than|under|below|shorter than|smaller than|lower than|before)\s*$", re.IGNORECASE)),
]
_YEAR = re.compile(r"\b(?:in|during|of|for|since|before|after)\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\s*$",
    re.IGNORECASE,
)
_SALES = re.compile(r"\b(sales|revenue|sold|spent|spend|spending|earned|earnings|income)\b", re.IGNORECASE)
_DISTINCT = re.compile(r"\b(different|distinct|unique|kinds? of|types? of|which \w+s of)\b", re.IGNORECASE)
_LIST = re.compile(r"^\s*(list|show|give|name|what are|which|who)\b", re.IGNORECASE)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_PRICE = ("price", "cost", "amount", "fee", "rate")
_QUANTITY = ("quantity", "qty", "count", "unit", "units")


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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value) == int(value) else repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


class _Query:
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
                    f"{self.aliases[fk.table]}.{_q(a)} = {self.aliases[fk.ref_table]}.{_q(b)}" for a, b in zip(fk.columns, fk.ref_columns)
                )
                self.joins.append(f"JOIN {_q(nxt)} AS {self.aliases[nxt]} ON {on}")
            current = nxt
        return self.aliases[table]

    def col(self, table: str, column: str) -> str | None:
        alias = self.alias(table)
        return None if alias is None else f"{alias}.{_q(column)}"

    def sql(
        self,
        select: list[str],
        *,
        group: list[str] | None = None,
        order: str | None = None,
        limit: int | None = None,
        distinct: bool = False,
    ) -> str:
        parts = [f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(select)} FROM {_q(self.focus)} AS T1"]
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
        measures: list[Any] = _measures(link, focus, tables)[:2] or [None]
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
    starts = _word_starts(link)
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


def _compound_qualifiers(link: Link) -> set[str]:
    """Named tables whose word sits right before another named table's word ("film categories"):
    they qualify that noun, and an answer about it need not read them."""
    stems = link.reading.stems
    out = set()
    for table in link.named_tables:
        own = link.words_of(table)
        for i, stem in enumerate(stems[:-1]):
            if stem in own and any(stems[i + 1] in link.words_of(t) for t in link.named_tables if t != table):
                out.add(table)
    return out


def _word_starts(link: Link) -> list[int]:
    starts, at = [], 0
    for word in link.reading.words:
        at = link.reading.text.find(word, at)
        starts.append(at)
        at += len(word)
    return starts


def _measures(link: Link, focus: str, tables: dict[str, Table]) -> list[tuple[str, str] | tuple[str, str, str]]:
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
    if _SALES.search(link.reading.text) and not found:
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


def _build(link: Link, tables: dict[str, Table], focus: str, measure: Any, text: str) -> Composed | None:
    q = _Query(link.schema, focus)
    used: list[str] = []
    missed: list[str] = []
    reading = link.reading
    # filters: values, units, comparisons, years
    for value in _best_values(link):
        col = q.col(value.table, value.column)
        if col is None:
            missed.append(f"value {value.value!r}")
            continue
        q.where.append(f"{col} = {_lit(value.value)}")
        used.append(f"{value.table}.{value.column} = {value.value!r}")
    numbers_used: set[int] = set()
    having: list[str] = []
    spoken: set[str] = set()  # question words the SQL accounts for beyond names and values (a month)
    unit_rank = {t: i for i, t in enumerate(dict.fromkeys([focus, *link.named_tables]))}
    for unit in sorted(link.units, key=lambda u: unit_rank.get(u.table, len(unit_rank))):
        mention = next((n for n in reading.numbers if n.text == unit.said), None)
        op = _operator(text, mention.start) if mention is not None else None
        if op is None:
            continue
        col = q.col(unit.table, unit.column)
        if col is None:
            continue
        q.where.append(f"{col} {op} {_lit(unit.value)}")
        used.append(f"{unit.column} {op} {unit.value:g} ({unit.conversion})")
        numbers_used.add(mention.start if mention else -1)
        break
    for mention in reading.numbers:
        if mention.start in numbers_used or mention.unit is not None:
            continue
        op = _operator(text, mention.start)
        month = _MONTH.search(text[max(0, mention.start - 12) : mention.start])
        year = _YEAR.search(text[max(0, mention.start - 8) : mention.end + 1]) or month
        yearly = _numeric_near(link, tables, text, mention.start)
        if year and 1900 <= mention.value <= 2100 and mention.value == int(mention.value):
            number = int(mention.value)
            if yearly is None or "year" not in name_stems(yearly[1]):
                yearly = _year_column(link, tables, focus)
            date = _date_column(link, tables, focus) if yearly is None or month else None
            if date is not None and (col := q.col(*date)):
                if month:  # "in December 2023": that month's days
                    m = _MONTHS.index(month.group(1).lower()[:3]) + 1
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
        counted = _counted_after(link, mention.end, focus)
        if counted is not None and q.alias(counted) is not None:  # "more than 5 albums": a count per focus row
            having.append(f"COUNT(*) {op} {_lit(mention.value)}")
            used.append(f"count of {counted} {op} {mention.text}")
            continue
        target = _numeric_near(link, tables, text, mention.start)
        if target is None:
            missed.append(f"comparison with {mention.text}")
            continue
        col = q.col(*target)
        if col is None:
            continue
        q.where.append(f"{col} {op} {_lit(mention.value)}")
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
    groups = _groups(link, tables, text, focus)
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
    count = bool(_COUNT.search(text))
    aggregate = next((name for name, pattern in _AGG if pattern.search(text)), None)
    top = _top(text)
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

    row_superlative = _asks_for_a_row(link, focus)
    label_cols = [q.col(focus, c) for c in link.labels.get(focus, ())]
    labels = [c for c in label_cols if c]
    if not labels:
        return None
    if having and not groups:
        key = [q.col(focus, c) for c in tables[focus].primary_key] or labels
        sql = q.sql(labels, group=[c for c in key if c] + [c for c in labels if c not in key]) + " HAVING " + " AND ".join(having)
        shape = "having"
    elif groups:
        agg = _aggregate_sql(aggregate, count, measure_of() if (aggregate or not count) else None)
        order = None
        limit = None
        if top or _MOST.search(text) or _LEAST.search(text):
            order = f"{agg} {'ASC' if _LEAST.search(text) and not top else 'DESC'}"
            limit = top or (1 if not re.search(r"\b(each|every|per)\b", text, re.IGNORECASE) else None)
            if limit is None:
                order = None
        sql = q.sql(group_select + [agg], group=group_cols, order=order, limit=limit)
        shape = "group"
    elif top or (
        (_MOST.search(text) or _LEAST.search(text))
        and not count
        and (row_superlative or aggregate not in ("MAX", "MIN") or measure is None)
    ):
        # "top 5 artists by sales", "which genre has the most tracks", "the longest track"
        descending = not (_LEAST.search(text) and not top)
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
        if extra and (_DISTINCT.search(text) or any(v.table == focus for v in _best_values(link))):
            # "the different genres", "the city of the Harbour branch": the named column alone
            sql = q.sql(extra, distinct=bool(_DISTINCT.search(text)))
            shape = "column"
        else:
            sql = q.sql(labels + [c for c in extra if c not in labels], distinct=len(q.aliases) > 1)
            shape = "list"
    explained = set(spoken)
    if measure_used and _SALES.search(text):
        explained |= {normalize_word(m.group(0)) for m in _SALES.finditer(text)}
    if shape in ("list", "column") and _echoes_filter(sql, q):
        return None  # "SELECT name … WHERE name = 'X'" only says X back
    missed += [f"word {w!r} (linked, unused)" for w in _unused_words(link, q, sql, explained)]
    coverage = _coverage(link, q, used, missed, explained)
    return Composed(sql, shape, used, missed, coverage)


def grouping_gap(sql: str | None, link: Link) -> str | None:
    """What a stored answer's GROUP BY leaves out of "per X" / "each X and Y": a grouping by a key
    column (an id, where the question wants the name) or fewer groupings than the question asks
    for. None when it groups as asked, or the question asks for no grouping."""
    import sqlglot
    from sqlglot import exp

    asked = [w for m in _GROUP.finditer(link.reading.text) for w in re.split(r"\s+(?:and|&)\s+|,\s*", m.group(1)) if name_stems(w)]
    if not sql or not (asked or re.search(r"\b(?:per|each|every|by)\s+[^\W\d_]", link.reading.text, re.IGNORECASE)):
        return None
    try:
        tree = sqlglot.parse_one(sql)
    except sqlglot.errors.ParseError:
        return None
    group = tree.args.get("group") if isinstance(tree, exp.Select) else None
    if group is None:
        return None
    keys = {c.name.lower() for t in link.schema.tables for c in t.columns if c.kind == "key"}
    grouped = [c.name for e in group.expressions for c in e.find_all(exp.Column)]
    named = [c for c in grouped if c.lower() not in keys]
    if grouped and not named:
        return f"it groups by the key {grouped[0]}, not a name"
    if len(named) < len(asked):
        return f"it groups by {len(named)} of the {len(asked)} groupings asked for ({', '.join(asked)})"
    return None


def reads_named_table(sql: str | None, link: Link) -> bool:
    """Whether an SQL reads at least one table the question names (a stored example about other
    tables is no evidence for this question)."""
    import sqlglot
    from sqlglot import exp

    if not sql:
        return False
    try:
        read = {t.name.lower() for t in sqlglot.parse_one(sql).find_all(exp.Table)}
    except sqlglot.errors.ParseError:
        return False
    return bool(read & {t.lower() for t in link.named_tables})


def _echoes_filter(sql: str, q: _Query) -> bool:
    """Whether every selected column is one the query filters on by equality (it would only repeat
    the value the question gave)."""
    head = sql.split(" FROM ", 1)[0].removeprefix("SELECT ").removeprefix("DISTINCT ")
    selected = [c.strip() for c in head.split(", ")]
    equal = {w.split(" = ", 1)[0] for w in q.where if " = " in w}
    return bool(selected) and all(c in equal for c in selected)


def _sql_words(link: Link, q: _Query, sql: str) -> set[str]:
    """Question stems the SQL itself accounts for: the tables it reads, the columns it names, the
    values and units it compares."""
    out: set[str] = set()
    for table, alias in q.aliases.items():
        out.update(link.words_of(table))
        for column in link.schema.table(table).columns:
            if f"{alias}.{_q(column.name)}" in sql:
                out.update(name_stems(column.name))
    for value in link.values:
        if _lit(value.value) in sql:
            out.update(normalize_word(w) for w in re.findall(r"[^\W_]+", value.phrase))
    for unit in link.units:
        if _lit(unit.value) in sql:
            out.update(normalize_word(w) for w in re.findall(r"[^\W_]+", unit.said))
    return out


def _unused_words(link: Link, q: _Query, sql: str, explained: set[str]) -> list[str]:
    """Question words a linked table, column or value claims, which this SQL does not use: "films
    rated R" answered by every film leaves "rated" (films.age_rating) out."""
    claimed: set[str] = set()
    for table in link.named_tables:  # the tables the question names (the rest are the retriever's picks for a prompt)
        claimed.update(link.words_of(table))
    for c in link.columns:
        if c.column and c.score >= 0.5 and c.table in link.named_tables:
            claimed.update(name_stems(c.column))
    for v in link.values:
        if v.score >= 0.5:
            claimed.update(normalize_word(w) for w in re.findall(r"[^\W_]+", v.phrase))
    used = _sql_words(link, q, sql) | explained
    out = []
    for word, stem in zip(link.reading.words, link.reading.stems):
        lower = word.lower()
        if stem in claimed and stem not in used and not {stem, lower} & IGNORED_WORDS and not stem.isdigit() and len(stem) > 1:
            out.append(stem)
    return list(dict.fromkeys(out))


def _asks_for_a_row(link: Link, focus: str) -> bool:
    """ "the longest track", "the most expensive film": a superlative followed by the focus's noun asks
    for that row, where "the longest duration" asks for the value."""
    stems = link.reading.stems
    words = [w.lower() for w in link.reading.words]
    own = set(link.words_of(focus))
    for i, word in enumerate(words):
        superlative = (
            _MOST.fullmatch(word) or _LEAST.fullmatch(word) or word in ("expensive", "cheapest", "oldest", "newest", "latest", "earliest")
        )
        if superlative and any(s in own for s in stems[i + 1 : i + 3]):
            return True
    return False


def _best_values(link: Link) -> list[Any]:
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


def _counted_after(link: Link, end: int, focus: str) -> str | None:
    """A named table (not the focus) written right after a number: "more than 5 albums"."""
    starts = _word_starts(link)
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


def _operator(text: str, start: int) -> str | None:
    before = text[max(0, start - 40) : start].rstrip(" $€")
    for op, pattern in _COMPARE:
        if pattern.search(before):
            return op
    return None


def _numeric_near(link: Link, tables: dict[str, Table], text: str, start: int) -> tuple[str, str] | None:
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
                at = _word_offset(text, link.reading.words, i)
                d = abs(at - start)
                if distance is None or d < distance:
                    best, distance = (c.table, c.column), d
    return best


def _word_offset(text: str, words: tuple[str, ...], index: int) -> int:
    at = 0
    for i, word in enumerate(words):
        at = text.find(word, at)
        if i == index:
            return at
        at += len(word)
    return at


def _year_column(link: Link, tables: dict[str, Table], focus: str) -> tuple[str, str] | None:
    """A numeric column of the focus (or a named table) whose name says it holds a year."""
    for name in dict.fromkeys([focus, *link.named_tables]):
        column = next((c for c in tables[name].columns if c.kind == "number" and "year" in name_stems(c.name)), None)
        if column is not None:
            return name, column.name
    return None


def _date_column(link: Link, tables: dict[str, Table], focus: str) -> tuple[str, str] | None:
    named = [c for c in link.columns if c.column and c.table in tables and tables[c.table].column(c.column).kind == "date"]
    if named:
        return named[0].table, named[0].column or ""
    for name in [focus, *link.named_tables]:
        date = next((c for c in tables[name].columns if c.kind == "date"), None)
        if date is not None:
            return name, date.name
    return None


def _groups(link: Link, tables: dict[str, Table], text: str, focus: str) -> list[tuple[str, tuple[str, ...]]]:
    """What "per X", "each X", "by X and Y" group by: a table's label columns or a named column."""
    out: list[tuple[str, tuple[str, ...]]] = []
    group: tuple[str, tuple[str, ...]]
    valued = [(v.start, v.end) for v in link.values if v.score >= 0.5]
    for m in _GROUP.finditer(text):
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
            if group[1] and group not in out and not (m.group(0).lower().startswith("by") and _TOP.search(text) and group[0] == focus):
                out.append(group)
    return out


def _aggregate_sql(aggregate: str | None, count: bool, measure: str | None) -> str:
    if measure is not None and aggregate is not None:
        return f"{aggregate}({measure})"
    if measure is not None and not count:
        return f"SUM({measure})"
    return "COUNT(*)"


def _top(text: str) -> int | None:
    m = _TOP.search(text)
    if not m:
        m = _WHICH_N.search(text) if (_MOST.search(text) or _LEAST.search(text)) else None
        if not m:
            return None
    word = next(g for g in m.groups() if g).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word)


def _coverage(link: Link, q: _Query, used: list[str], missed: list[str], explained: set[str]) -> float:
    """The share of the question's parts this SQL accounts for: the named tables it reads, the
    linked values and numbers it compares, and the content words left unlinked count against it."""
    named = link.named_tables
    qualifiers = _compound_qualifiers(link)
    read = sum(1 for t in named if t in q.aliases or t in qualifiers)
    parts = len(named) + len(missed) + len([w for w in link.unlinked if w not in explained])
    if parts == 0:
        return 0.0
    return read / parts
