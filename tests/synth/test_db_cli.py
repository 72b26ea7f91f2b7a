"""`coderag db add | list | show | teach | remove` on databases the project never saw, and `ask`
over their stores: answers, abstentions, bad input, and the user's file never modified."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from fixtures.grounded.databases import make_school

from rag.registry import ExampleStore, Registry


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_school(tmp_path_factory.mktemp("school") / "school.sqlite")


@pytest.fixture
def added(coderag, school: Path, coderag_home: Path):
    """`school` registered (synthesized once per test: a small store keeps it quick)."""
    before = _digest(school)
    result = coderag("db", "add", str(school), "--name", "school", "--examples", "300", "--quiet")
    assert result.returncode == 0, result.stderr
    assert _digest(school) == before
    yield result
    coderag("db", "remove", "school")


def test_add_registers_synthesizes_and_ask_answers_from_the_store(coderag, added, coderag_home: Path, school: Path) -> None:
    assert "registered 'school'" in added.stdout and "examples" in added.stdout
    registration = Registry(coderag_home).get("school")
    assert registration is not None and Path(registration.path) == school.resolve()
    stored = ExampleStore(coderag_home).load("school")
    assert len(stored) >= 300 and {e.origin for e in stored} == {"synth"}
    # the database was also described, its values indexed and its tables embedded for linking
    assert "linking: 5 tables" in added.stderr and "distinct values indexed" in added.stderr
    assert list((coderag_home / "links").glob("*.npz"))

    with sqlite3.connect(school) as conn:
        (students,) = conn.execute("SELECT COUNT(*) FROM students").fetchone()
    asked = coderag("ask", "How many students are there?", "--db", "school", "--json")
    payload = json.loads(asked.stdout)
    assert payload["db"] == "school" and all(r["db"] == "school" for r in payload["retrieved"])
    if asked.returncode == 0:  # answered: it must be the right count
        assert payload["rows"] == [[students]]
    else:  # abstained: said so, with the nearest examples, and nothing ran
        assert asked.returncode == 8 and payload["rows"] == [] and payload["retrieved"]

    listed = json.loads(coderag("db", "list", "--json").stdout)
    school_rows = [row for row in listed if row["name"] == "school"]  # the session's home may hold other tests' databases
    assert len(school_rows) == 1 and school_rows[0]["examples"]["synth"] == len(stored)
    shown = coderag("db", "show", "school", "--limit", "3")
    assert shown.returncode == 0 and "CREATE TABLE" in shown.stdout


def test_an_unrelated_question_abstains(coderag, added) -> None:
    result = coderag("ask", "What is the weather like on Mars today?", "--db", "school")
    assert result.returncode == 8, result.stderr
    assert "abstained:" in result.stderr and "nothing in the question was linked to this database" in result.stderr
    assert "not run" in result.stdout and "rows shown" not in result.stdout
    forced = coderag("ask", "What is the weather like on Mars today?", "--db", "school", "--force")
    assert forced.returncode == 0 and "rows shown" in forced.stdout


def test_teach_validates_every_row_and_keeps_taught_examples(coderag, added, coderag_home: Path, school: Path, tmp_path: Path) -> None:
    before = _digest(school)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"question": "Which students are there?", "sql": "SELECT * FROM students"},
                {"question": "Delete them all", "sql": "DELETE FROM students"},
                {"question": "Nonsense", "sql": "SELECT nope FROM students"},
                {"question": "", "sql": "SELECT 1"},
                {"question": "Forever", "sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"},
            ]
        )
        + "\n"
    )
    taught = coderag("db", "teach", "school", "--file", str(rows), env={"CODERAG_EXECUTION__TIMEOUT_S": "0.5"})
    assert taught.returncode == 0, taught.stderr
    assert "taught 1 example" in taught.stdout
    for row in (2, 3, 4, 5):
        assert f"skipped row {row}" in taught.stderr
    assert _digest(school) == before
    store = ExampleStore(coderag_home)
    assert [e.question for e in store.load("school") if e.origin == "person"] == ["Which students are there?"]

    nothing = coderag("db", "teach", "school", "--question", "Drop it", "--sql", "DROP TABLE students")
    assert nothing.returncode != 0 and "no example was taught" in nothing.stderr

    # a re-synthesis and a removal keep what a person taught
    assert coderag("db", "add", str(school), "--name", "school", "--examples", "50", "--quiet").returncode == 0
    assert coderag("db", "remove", "school").returncode == 0
    assert [e.question for e in store.load("school")] == ["Which students are there?"]


@pytest.mark.parametrize(
    ("make", "args", "code", "text"),
    [
        (lambda d: d / "missing.sqlite", (), 4, "database not found"),
        (lambda d: d, (), 4, "not a file"),
        (lambda d: (d / "notes.sqlite").write_text("hello") and d / "notes.sqlite", (), 4, "not a SQLite database"),
        (lambda d: _empty(d / "empty.sqlite"), (), 4, "no tables"),
        (lambda d: _empty(d / "x.sqlite", table=True), ("--name", "../etc"), 2, "invalid database name"),
        (lambda d: _empty(d / "y.sqlite", table=True), ("--name", "bookshop"), 2, "demo database"),
        (lambda d: _empty(d / "z.sqlite", table=True), ("--generator", "wizard"), 2, "unknown generator"),
    ],
)
def test_bad_input_is_one_line(coderag, tmp_path: Path, make, args, code, text) -> None:
    target = make(tmp_path)
    result = coderag("db", "add", str(target), *args, "--quiet")
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], result.stderr


def test_a_name_clash_needs_replace(coderag, added, tmp_path: Path) -> None:
    other = _empty(tmp_path / "other.sqlite", table=True)
    clash = coderag("db", "add", str(other), "--name", "school", "--quiet")
    assert clash.returncode == 2 and "already registered" in clash.stderr
    assert coderag("db", "show", "nobody").returncode == 4


def _empty(path: Path, *, table: bool = False) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")  # a valid SQLite file, even without tables
        if table:
            conn.execute("CREATE TABLE t (a INTEGER)")
            conn.execute("INSERT INTO t VALUES (1)")
    return path


def test_a_db_add_that_fails_leaves_nothing_registered(coderag, coderag_home: Path, tmp_path: Path) -> None:
    """Another program writes the file while `db add` reads it (bytes appended past SQLite's last
    page, which SQLite ignores): exit 4, and neither a registration nor a synthesized example stays."""
    import threading

    target = make_school(tmp_path / "busy.sqlite")
    stop = threading.Event()

    def write_meanwhile() -> None:
        with target.open("ab") as handle:
            while not stop.wait(0.05):
                handle.write(b"\0" * 512)
                handle.flush()

    writer = threading.Thread(target=write_meanwhile)
    writer.start()
    try:
        result = coderag("db", "add", str(target), "--name", "busy", "--examples", "300", "--quiet")
    finally:
        stop.set()
        writer.join()
    assert result.returncode == 4 and "changed while coderag read it" in result.stderr, result.stderr
    assert Registry(coderag_home).get("busy") is None
    assert ExampleStore(coderag_home).load("busy") == []


def test_teach_checks_as_the_api_and_the_ui_do(coderag) -> None:
    """One check of a taught example (rag.api.check_example): `db teach` holds the SQL to the configured size, as the UI and the API do."""
    sql = "SELECT count(*) FROM books WHERE " + " OR ".join(f"book_id = {n}" for n in range(30))
    refused = coderag(
        "db",
        "teach",
        "bookshop",
        "--question",
        "How many of these books are there?",
        "--sql",
        sql,
        env={"CODERAG_EXECUTION__MAX_SQL_CHARS": "100"},
    )
    assert refused.returncode != 0 and "no example was taught" in refused.stderr
    assert f"skipped row 1: the SQL is {len(sql):,} characters; the limit is 100" in " ".join(refused.stderr.split())
