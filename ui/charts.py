"""Which chart suits a query result, from its column types alone (pure; no plotting here).

    one category + numbers         → bar      (x: the category, y: the first number)
    a date/time column + numbers   → line     (x: the date, y: the first number)
    two numbers                    → scatter  (x: the first, y: the second)
    anything else                  → none     (a single row, text only, several categories, …)

A key column (`id`, `*_id`, `CustomerId`) is never an axis: counting per key and charting the ids
says nothing, so it is left out before the choice. A result grouped by a key that also carries a
name (`genre_id, name, books`) is a bar per name.

A column is a number when every non-NULL value is an int or float, a date when every non-NULL
value is an ISO date or date-time string (or it is a whole-number column named like a year or a
month), and a category otherwise. A bar chart needs each category once (a grouped result) and at
most MAX_BARS of them.

>>> choose_chart(["department", "doctors"], [["Cardiology", 3], ["Oncology", 2]]).kind
'bar'
>>> choose_chart(["day", "visits"], [["2024-01-01", 3], ["2024-01-02", 5]]).kind
'line'
>>> choose_chart(["book_count"], [[60]]) is None
True
>>> choose_chart(["genre_id", "name", "books"], [[1, "Poetry", 4], [2, "Crime", 7]])
Chart(kind='bar', x='name', y='books')
>>> choose_chart(["genre_id", "books"], [[1, 4], [2, 7]]) is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

ChartKind = Literal["bar", "line", "scatter"]
MAX_BARS = 50
MAX_POINTS = 5_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_KEY_NAME = re.compile(r"(?i:^id$|_id$)|[a-z0-9]I[dD]$")
_TIME_NAME = re.compile(r"(^|_)(year|month|yr|date|day|week|quarter)s?($|_)", re.IGNORECASE)


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    x: str
    y: str


def is_key(name: str) -> bool:
    """A column named like a key (`id`, `genre_id`, `CustomerId`, `customerID`): an identifier, not a quantity or a label."""
    return bool(_KEY_NAME.search(name.strip()))


def column_type(name: str, values: list[Any]) -> Literal["number", "date", "category", "empty"]:
    present = [v for v in values if v is not None]
    if not present:
        return "empty"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if _TIME_NAME.search(name) and all(isinstance(v, int) or float(v).is_integer() for v in present):
            return "date"
        return "number"
    if all(isinstance(v, (date, datetime)) or (isinstance(v, str) and _ISO_DATE.match(v.strip())) for v in present):
        return "date"
    return "category"


def choose_chart(columns: list[str], rows: list[list[Any]]) -> Chart | None:
    """The chart for a result (see the module docstring), or None."""
    if len(columns) < 2 or len(rows) < 2 or len(rows) > MAX_POINTS or len(set(columns)) != len(columns):
        return None
    types = {name: column_type(name, [row[i] for row in rows]) for i, name in enumerate(columns) if not is_key(name)}
    numbers = [c for c in types if types[c] == "number"]
    dates = [c for c in types if types[c] == "date"]
    categories = [c for c in types if types[c] == "category"]
    if not numbers:
        return None
    if len(dates) == 1 and not categories:
        return Chart("line", dates[0], numbers[0])
    if len(categories) == 1 and not dates:
        position = columns.index(categories[0])
        labels = [row[position] for row in rows]
        if len(rows) <= MAX_BARS and len(set(labels)) == len(labels):
            return Chart("bar", categories[0], numbers[0])
        return None
    if len(numbers) >= 2 and not categories and not dates:
        return Chart("scatter", numbers[0], numbers[1])
    return None
