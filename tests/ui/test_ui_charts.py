"""Which chart a result gets, from its column types: a table of result shapes."""

from __future__ import annotations

import doctest

import pytest

import ui.charts
from ui.charts import MAX_BARS, Chart, choose_chart, column_type, is_key

CASES = [
    # one category + numbers → bar
    (
        "grouped count",
        ["department", "doctors"],
        [["Cardiology", 3], ["Oncology", 2], ["Surgery", 4]],
        Chart("bar", "department", "doctors"),
    ),
    ("category + two numbers", ["genre", "books", "avg_price"], [["Poetry", 4, 9.5], ["Crime", 7, 12.0]], Chart("bar", "genre", "books")),
    ("number first, category second", ["n", "city"], [[3, "Oslo"], [5, "Lima"]], Chart("bar", "city", "n")),
    ("NULLs do not change a type", ["dept", "n"], [["A", None], ["B", 2], [None, 1]], Chart("bar", "dept", "n")),
    # a date/time column + numbers → line
    ("dates", ["day", "visits"], [["2024-01-01", 3], ["2024-01-02", 5], ["2024-01-03", 4]], Chart("line", "day", "visits")),
    ("date-times", ["at", "load"], [["2024-01-01 10:00:00", 0.5], ["2024-01-01T11:00", 0.7]], Chart("line", "at", "load")),
    ("year-months", ["month", "revenue"], [["2024-01", 10.0], ["2024-02", 12.5]], Chart("line", "month", "revenue")),
    ("a whole-number year column", ["year", "books"], [[1999, 3], [2000, 5], [2001, 2]], Chart("line", "year", "books")),
    ("published_year", ["published_year", "n"], [[1999, 3], [2000, 5]], Chart("line", "published_year", "n")),
    # two numbers → scatter
    ("two numbers", ["pages", "price"], [[120, 9.5], [300, 20.0], [250, 15.0]], Chart("scatter", "pages", "price")),
    ("three numbers", ["a", "b", "c"], [[1, 2, 3], [4, 5, 6]], Chart("scatter", "a", "b")),
    # a key column is never an axis; a key grouped with its name is a bar per name
    ("a count per key is no scatter of ids", ["genre_id", "books"], [[1, 4], [2, 7], [3, 2]], None),
    ("a bare id column", ["id", "total"], [[1, 9.5], [2, 3.0]], None),
    ("a key with its name", ["genre_id", "name", "books"], [[1, "Poetry", 4], [2, "Crime", 7]], Chart("bar", "name", "books")),
    (
        "a CamelCase key with its name",
        ["ArtistId", "Name", "albums"],
        [[1, "AC/DC", 2], [2, "Accept", 2], [3, "Aerosmith", 1]],
        Chart("bar", "Name", "albums"),
    ),
    ("a key after the name and the number", ["name", "n", "customerID"], [["Ana", 3, 7], ["Bo", 1, 8]], Chart("bar", "name", "n")),
    ("two numbers beside a key", ["book_id", "pages", "price"], [[1, 120, 9.5], [2, 300, 20.0]], Chart("scatter", "pages", "price")),
    ("a date beside a key", ["order_id", "day", "total"], [[1, "2024-01-01", 3.0], [2, "2024-01-02", 5.0]], Chart("line", "day", "total")),
    # none
    ("one value", ["book_count"], [[60]], None),
    ("one row", ["department", "doctors"], [["Cardiology", 3]], None),
    ("text only", ["title", "author"], [["Dune", "Herbert"], ["Emma", "Austen"]], None),
    ("a category repeated (not grouped)", ["genre", "price"], [["Crime", 9.0], ["Crime", 12.0], ["Poetry", 5.0]], None),
    ("two categories", ["first", "last", "age"], [["Ana", "Lee", 30], ["Bo", "Kim", 40]], None),
    ("a category and a date", ["name", "joined", "n"], [["Ana", "2024-01-01", 1], ["Bo", "2024-02-01", 2]], None),
    ("one number column", ["price"], [[1.0], [2.0], [3.0]], None),
    ("no rows", ["department", "doctors"], [], None),
    ("too many bars", ["label", "n"], [[f"l{i}", i] for i in range(MAX_BARS + 1)], None),
    ("duplicate column names", ["n", "n"], [[1, 2], [3, 4]], None),
    ("booleans are not numbers", ["flag", "other"], [[True, False], [False, True]], None),
]


@pytest.mark.parametrize(("columns", "rows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_chart_follows_the_column_types(columns, rows, expected) -> None:
    assert choose_chart(columns, rows) == expected


def test_column_types() -> None:
    assert column_type("n", [1, 2.5, None]) == "number"
    assert column_type("day", ["2024-01-01", None]) == "date"
    assert column_type("name", ["2024-01-01", "tomorrow"]) == "category"
    assert column_type("x", [None, None]) == "empty"
    assert column_type("year", [1999.5, 2000]) == "number"  # not a whole number: not a year


def test_key_names() -> None:
    assert all(is_key(n) for n in ["id", "ID", "genre_id", "GENRE_ID", "CustomerId", "customerID", "book_id "])
    assert not any(is_key(n) for n in ["paid", "valid", "grid", "idea", "identity", "VOID", "name", "ids_count"])


def test_doctests() -> None:
    result = doctest.testmod(ui.charts)
    assert result.attempted >= 5 and result.failed == 0
