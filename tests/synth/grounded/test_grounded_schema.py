"""Introspection: keys, inferred links, sampled values, bounds on big databases, bad files."""

from __future__ import annotations

import shutil
import sqlite3
import time
import tracemalloc
from pathlib import Path

import pytest
from fixtures.grounded.databases import file_hash

from rag.errors import DatabaseError
from synth.grounded import introspect


def links(schema) -> set[str]:
    return {str(fk) for fk in schema.foreign_keys}


def walks(schema) -> set[tuple[str, ...]]:
    """Join paths in both directions."""
    return {p.tables for p in schema.join_paths} | {p.tables[::-1] for p in schema.join_paths}


def test_school_schema_keys_kinds_and_join_paths(school_db):
    before = file_hash(school_db)
    schema = introspect(school_db)
    assert file_hash(school_db) == before
    assert [t.name for t in schema.tables] == ["courses", "departments", "enrollments", "students", "teachers"]
    assert schema.table("enrollments").primary_key == ("student_id", "course_id", "term")
    assert links(schema) == {
        "courses(teacher_id) -> teachers(teacher_id)",
        "courses(department_id) -> departments(department_id)",
        "enrollments(course_id) -> courses(course_id)",
        "enrollments(student_id) -> students(student_id)",
        "students(advisor_id) -> teachers(teacher_id)",
        "teachers(department_id) -> departments(department_id)",
    }
    students = schema.table("students")
    assert students.rows == 150 and students.rows_exact
    kinds = {c.name: c.kind for c in students.columns}
    assert kinds == {
        "student_id": "key",
        "full_name": "text",
        "city": "text",
        "enrollment_year": "number",
        "gpa": "number",
        "is_active": "boolean",
        "birth_date": "date",
        "advisor_id": "key",
        "nickname": "text",
    }
    assert students.column("city").categorical and not students.column("full_name").categorical
    assert students.column("nickname").nulls > 0 and students.column("nickname").nullable
    assert ("students", "enrollments", "courses") in walks(schema)
    assert all(len(c.values) <= 25 for t in schema.tables for c in t.columns)
    summary = schema.summary()
    assert "5 tables" in summary and "enrollments (600 rows)" in summary and schema.fingerprint in summary


def test_fingerprint_follows_the_schema_not_the_path(school_db, tmp_path):
    moved = tmp_path / "elsewhere" / "copy.sqlite"
    moved.parent.mkdir()
    shutil.copy(school_db, moved)
    assert introspect(moved).fingerprint == introspect(school_db).fingerprint
    with sqlite3.connect(moved) as conn:
        conn.execute("ALTER TABLE students ADD COLUMN email TEXT")
    assert introspect(moved).fingerprint != introspect(school_db).fingerprint


def test_odd_names_no_primary_keys_empty_and_without_rowid_tables(odd_db):
    schema = introspect(odd_db)
    names = {t.name for t in schema.tables}
    assert names == {"order", "Order Details", "Größe", "customerAccounts", "tags", "empty_things"}
    order = schema.table("order")
    assert [c.name for c in order.columns] == ["Order ID", "select", "from", "it's", 'say "hi"']
    assert order.primary_key == () and order.rows == 60
    assert order.column("from").kind == "date" and order.column("select").categorical
    assert schema.table("empty_things").rows == 0 and schema.table("empty_things").column("label").values == ()
    assert schema.table("tags").rows == 6 and len(schema.table("tags").column("tag").values) == 6
    assert schema.table("customerAccounts").column("isVerified").kind == "boolean"
    assert schema.table("Größe").column("prénom").values
    # no declared keys: "Order Details"."Order ID" matches the unique "order"."Order ID"
    assert links(schema) == {"Order Details(Order ID) ~> order(Order ID)"}


def test_keys_linked_by_matching_names_when_none_are_declared(warehouse_db):
    schema = introspect(warehouse_db)
    assert links(schema) == {
        "parts(supplier_id) ~> suppliers(supplier_id)",
        "shipments(part_id) ~> parts(part_id)",
        "stock(part_id) ~> parts(part_id)",
        "stock(bin_id) ~> bins(id)",
    }
    assert all(fk.inferred for fk in schema.foreign_keys)
    assert {("shipments", "parts", "suppliers"), ("bins", "stock", "parts")} <= walks(schema)


def test_links_by_name_need_agreeing_values(tmp_path):
    path = tmp_path / "mismatch.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE teams (team_id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE players (player_id INTEGER PRIMARY KEY, team_id INTEGER);
            INSERT INTO teams VALUES (1, 'a'), (2, 'b');
            INSERT INTO players VALUES (1, 70), (2, 80), (3, 90);
        """)
    assert introspect(path).foreign_keys == ()


def test_two_hundred_tables_stay_bounded(wide_db):
    started = time.perf_counter()
    schema = introspect(wide_db)
    assert time.perf_counter() - started < 20
    assert len(schema.tables) == 200 and len(schema.foreign_keys) == 199
    assert 0 < len(schema.join_paths) <= 2_000
    assert all(len(t.sample) <= 24 for t in schema.tables)
    assert schema.summary().count("\n") < 80
    capped = introspect(wide_db, max_tables=50)
    assert len(capped.tables) == 50 and len(capped.skipped_tables) == 150


def test_a_million_rows_are_sampled_not_scanned(big_db):
    before = file_hash(big_db)
    tracemalloc.start()
    started = time.perf_counter()
    schema = introspect(big_db, sample_rows=500)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    events = schema.table("events")
    assert events.rows == 1_000_000
    assert seconds < 10 and peak < 20 * 2**20
    assert set(events.column("kind").values) == {"click", "view", "buy", "refund", "share"}
    # sampled over the whole table, not its first rows: dates from early and late rows
    dates = sorted(events.column("happened_on").values)
    assert dates[0] < "2021-01-01" < dates[-1]
    # counting past the time limit falls back to a rowid estimate
    estimated = introspect(big_db, timeout_s=0.005).table("events")
    assert not estimated.rows_exact and estimated.rows == 1_000_000
    assert file_hash(big_db) == before


@pytest.mark.parametrize("content", [None, b"not a database at all", b"SQLite format 3\x00" + b"\x00garbage" * 100])
def test_bad_files_raise_database_error(tmp_path, content):
    path = tmp_path / "bad.sqlite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatabaseError):
        introspect(path)


def test_a_database_without_tables_is_an_error(tmp_path):
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).execute("CREATE VIEW v AS SELECT 1").connection.close()
    with pytest.raises(DatabaseError, match="no tables"):
        introspect(path)


def test_introspection_never_writes(school_db: Path):
    before = file_hash(school_db)
    introspect(school_db, sample_rows=10, max_values=3)
    assert file_hash(school_db) == before
    assert not Path(str(school_db) + "-journal").exists() and not Path(str(school_db) + "-wal").exists()
