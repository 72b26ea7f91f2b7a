"""Names as words, values as people quote them, SQL identifiers quoted only when needed."""

from __future__ import annotations

import doctest
import importlib
import random
import sqlite3

import pytest
import sqlglot

from rag.schema import Column
from rag.words import (
    article,
    column_phrase,
    noun,
    phrase_plural,
    plural,
    quote_value,
    singular,
    words,
)
from synth.grounded.build import column, needs_quotes, table
from synth.grounded.conditions import Condition
from synth.grounded.phrasing import finish, post, post_pair, pred, questions
from synth.sql.syntax import render


@pytest.mark.parametrize("module", ["rag.words", "synth.grounded.build", "synth.grounded.phrasing", "synth.grounded.checks"])
def test_module_doctests(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("first_name", ["first", "name"]),
        ("customerID", ["customer", "ID"]),
        ("OrderDate", ["order", "date"]),
        ("Unit Price", ["unit", "price"]),
        ("HTTPStatusCode", ["HTTP", "status", "code"]),
        ("tbl_orders", ["orders"]),
        ("qty", ["quantity"]),
        ("address2", ["address", "2"]),
        ("it's", ["its"]),
        ("prénom_élève", ["prénom", "élève"]),
    ],
)
def test_words_split_identifiers(name, expected):
    assert words(name) == expected


@pytest.mark.parametrize(
    ("plural_form", "singular_form"),
    [
        ("customers", "customer"),
        ("categories", "category"),
        ("addresses", "address"),
        ("boxes", "box"),
        ("matches", "match"),
        ("statuses", "status"),
        ("people", "person"),
        ("movies", "movie"),
        ("analyses", "analysis"),
        ("series", "series"),
        ("data", "data"),
        ("houses", "house"),
    ],
)
def test_singular_and_plural_round_trip(plural_form, singular_form):
    assert singular(plural_form) == singular_form
    assert plural(singular_form) == plural_form


def test_table_nouns_and_column_phrases():
    assert noun("order_items").plural == "order items"
    assert noun("Person").plural == "people"
    assert noun("staff").singular == "staff"
    assert column_phrase("product_name", table_singular="product") == "name"
    assert column_phrase("name", table_singular="product") == "name"
    assert phrase_plural("unit price") == "unit prices"
    assert phrase_plural("founded") == "founded"
    assert [article(w) for w in ("order", "city", "hour", "ID", "SKU", "unit")] == [
        "an order",
        "a city",
        "an hour",
        "an ID",
        "an SKU",
        "a unit",
    ]


def test_values_are_quoted_so_their_ends_are_clear():
    assert quote_value("New York", "") == "'New York'"
    assert quote_value("Lima", "") == "Lima"
    assert quote_value("O'Neill", "'") == '"O\'Neill"'
    assert quote_value(12.0, "'") == "12"
    assert quote_value(0.25, '"') == "0.25"


@pytest.mark.parametrize("name", ["order", "select", "group", "Unit Price", 'say "hi"', "it's", "prénom", "1st", "Größe", "true"])
def test_odd_identifiers_are_quoted_and_round_trip(name):
    assert needs_quotes(name)
    sql = render(sqlglot.exp.select(column(name)).from_(table(name)))
    parsed = sqlglot.parse_one(sql, read="sqlite")
    assert [c.name for c in parsed.find_all(sqlglot.exp.Column)] == [name]
    conn = sqlite3.connect(":memory:")
    quoted = '"' + name.replace('"', '""') + '"'
    conn.execute(f"CREATE TABLE {quoted} ({quoted} INTEGER)")
    conn.execute(sql).fetchall()


@pytest.mark.parametrize("name", ["name", "customer_id", "OrderDate", "price2"])
def test_plain_identifiers_stay_bare(name):
    assert not needs_quotes(name)
    assert render(sqlglot.exp.select(column(name)).from_(table("t"))) == f"SELECT {name} FROM t"


CITY = Column("city", "TEXT", False, True, "text", ("Lima", "Quito"), distinct=2, sampled=10)
PRICE = Column("price", "REAL", False, True, "number", (3.5, 12.0), distinct=2, sampled=10)
ACTIVE = Column("is_active", "INTEGER", False, True, "boolean", (0, 1), distinct=2, sampled=10)


def test_conditions_are_said_in_several_styles():
    rng = random.Random(0)
    eq = Condition("eq", CITY, "city", ("Lima",))
    styles = {post(eq, rng)[0] for _ in range(60)}
    assert styles == {"whose", "with", "where", "that"}
    said = {post(eq, rng)[1] for _ in range(60)}
    assert all("Lima" in s for s in said) and len(said) > 6
    assert pred(Condition("gt", PRICE, "price", (10,)), rng).startswith("have")
    assert pred(Condition("true", ACTIVE, "is active"), rng) == "are active"
    assert pred(Condition("false", ACTIVE, "is active"), rng, singular=True) == "is not active"


def test_two_conditions_share_one_style():
    rng = random.Random(3)
    first, second = Condition("eq", CITY, "city", ("Lima",)), Condition("lt", PRICE, "price", (10,))
    for _ in range(20):
        text = post_pair(first, second, rng)
        assert "Lima" in text and "10" in text and " and " in text


def test_questions_are_distinct_and_finished():
    rng = random.Random(1)
    out = questions(rng, ["how many {pl} are there", "Count the {pl}.", "Number of {pl}?"], {"pl": "orders"})
    assert out == sorted(set(out), key=out.index) and len(out) == 3
    assert all(q[0].isupper() and q[-1] in "?." for q in out)
    assert finish("  what  is it ") == "What is it?"
