"""The checks that keep an offline answer from dropping a part of the question (rag.compose):
the words it was linked by, the groupings it asks for, a filter only echoed back, a one-letter code."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fixtures.linking.music import make_music

from rag.compose import compose
from rag.compose_checks import grouping_gap, reads_named_table
from rag.describe import describe
from rag.linking import Linker
from rag.sandbox import ReadOnlyDatabase
from rag.values import ValueIndex


@pytest.fixture(scope="module")
def linker(tmp_path_factory: pytest.TempPathFactory) -> Linker:
    music = make_music(tmp_path_factory.mktemp("music") / "music.sqlite")
    with ReadOnlyDatabase.open(music) as db:
        schema = describe(db)
        return Linker(schema, ValueIndex.build(db, schema))


def test_grouping_by_a_key_or_by_fewer_groupings_than_asked_is_a_gap(linker: Linker) -> None:
    per_genre = linker.link("How many tracks are there per genre?")
    assert "key genre_id" in (grouping_gap("SELECT genre_id, COUNT(*) FROM tracks GROUP BY genre_id", per_genre) or "")
    named = "SELECT g.name, COUNT(*) FROM tracks t JOIN genres g ON t.genre_id = g.genre_id GROUP BY g.name"
    assert grouping_gap(named, per_genre) is None
    two = linker.link("How many customers are there per city and last name?")
    assert "1 of the 2" in (grouping_gap("SELECT city, COUNT(*) FROM customers GROUP BY city", two) or "")
    assert grouping_gap("SELECT city, last_name, COUNT(*) FROM customers GROUP BY city, last_name", two) is None
    assert grouping_gap("SELECT COUNT(*) FROM tracks", linker.link("How many tracks are there?")) is None


def test_an_answer_that_leaves_out_a_column_the_question_names_is_not_fully_covered(linker: Linker) -> None:
    link = linker.link("How many artists have a country?")
    assert any(c.table == "artists" and c.column == "country" for c in link.columns)
    candidates = compose(link)
    assert candidates
    for candidate in candidates:
        assert candidate.coverage == 1.0 or any("country" in m for m in candidate.missed)
        if '"country"' not in candidate.sql:
            assert candidate.coverage < 1.0, candidate.sql


def test_a_list_that_only_echoes_its_filter_is_not_composed(linker: Linker) -> None:
    link = linker.link("List the jazz genres.")
    assert [(v.table, v.column, v.value) for v in link.values] == [("genres", "name", "Jazz")]
    for candidate in compose(link):  # without the check: SELECT T1."name" FROM "genres" AS T1 WHERE T1."name" = 'Jazz'
        head, _, rest = candidate.sql.partition(" FROM ")
        assert not (head.endswith('"name"') and "'Jazz'" in rest and "JOIN" not in rest), candidate.sql


def test_an_example_about_other_tables_reads_no_named_table(linker: Linker) -> None:
    link = linker.link("How many tracks are in the jazz genre?")
    assert reads_named_table("SELECT COUNT(*) FROM tracks", link)
    assert not reads_named_table("SELECT COUNT(*) FROM customers", link)
    assert not reads_named_table("not sql at all ((", link)


def test_a_capital_letter_code_is_a_value_but_a_lone_a_or_i_is_not(tmp_path: Path) -> None:
    path = tmp_path / "films.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE films (film_id INTEGER PRIMARY KEY, title TEXT, age_rating TEXT)")
        con.executemany("INSERT INTO films VALUES (?, ?, ?)", [(1, "Dune", "R"), (2, "Up", "PG"), (3, "Heat", "A"), (4, "Big", "I")])
    with ReadOnlyDatabase.open(path) as db:
        index = ValueIndex.build(db, describe(db))
    assert [(h.column, h.value) for h in index.match("Which films are rated R?")] == [("age_rating", "R")]
    assert index.match("Which films are rated r?") == []  # a lower-case letter is a word, not a code
    assert index.match("I want A film") == []


def test_a_table_named_only_by_a_word_the_answer_already_uses_need_not_be_read(tmp_path: Path) -> None:
    """ "Which bikes are in repair?": the word 'repair' names a `repairs` table too, but the answer
    accounts for it by the stored value 'in repair'; it is complete without reading `repairs`."""
    path = tmp_path / "bikes.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE bikes (bike_id INTEGER PRIMARY KEY, serial_number TEXT, status TEXT)")
        con.execute("CREATE TABLE repairs (repair_id INTEGER PRIMARY KEY, bike_id INTEGER REFERENCES bikes(bike_id), cost REAL)")
        con.executemany("INSERT INTO bikes VALUES (?, ?, ?)", [(i, f"SN-{i:03d}", ["available", "in repair"][i % 2]) for i in range(1, 21)])
        con.executemany("INSERT INTO repairs VALUES (?, ?, ?)", [(i, i, 10.0 * i) for i in range(1, 6)])
    with ReadOnlyDatabase.open(path) as db:
        schema = describe(db)
        link = Linker(schema, ValueIndex.build(db, schema)).link("Which bikes are in repair?")
    assert "repairs" in link.named_tables and [v.value for v in link.values] == ["in repair"]
    best = compose(link)[0]
    assert "repairs" not in best.sql and "'in repair'" in best.sql
    assert best.coverage == 1.0, best
