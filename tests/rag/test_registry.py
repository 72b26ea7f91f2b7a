"""Registered databases and example stores (rag.registry): keys follow the schema, appends are
safe, nothing a person wrote or saved is dropped, and `resolve_db` finds a database by name,
path or (after a move) by its schema."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from rag.corpus import load_corpus
from rag.databases import resolve_db
from rag.errors import ConfigError, DatabaseError
from rag.registry import ExampleStore, Registry, StoredExample, schema_fingerprint
from rag.sandbox import ReadOnlyDatabase


def _db(path: Path, extra: str = "") -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        f"CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT{extra}); INSERT INTO pets (name, species) VALUES ('Rex', 'dog'), ('Tom', 'cat');"
    )
    conn.commit()
    conn.close()
    return path


def _stored(key: str, n: int, origin: str = "person") -> StoredExample:
    return StoredExample.make(key, f"question {n}?", f"SELECT {n}", origin)  # type: ignore[arg-type]


def test_appends_from_many_threads_never_interleave(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path)
    threads = [
        threading.Thread(target=lambda t=t: [store.add("pets", [_stored("pets", t * 100 + n)]) for n in range(10)]) for t in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = store.load("pets")
    assert len(loaded) == 80 == len({e.id for e in loaded})
    assert store.path_for("pets") == tmp_path / "stores" / "pets.jsonl"


def test_a_torn_last_line_is_skipped_and_file_names_are_safe(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path)
    store.add("clinic", [_stored("clinic", 1)])
    with store.path_for("clinic").open("a") as handle:
        handle.write('{"id": "x", "question": "half')
    assert [e.question for e in store.load("clinic")] == ["question 1?"]
    assert store.path_for("up-../../etc/passwd").parent == tmp_path / "stores"


def test_resynthesis_keeps_what_people_wrote_and_saved(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path)
    store.add("pets", [_stored("pets", 1, "person"), _stored("pets", 2, "saved"), _stored("pets", 3, "synth")])
    assert store.replace_synthesized("pets", [_stored("pets", 4, "synth"), _stored("pets", 1, "synth")]) == 1
    assert sorted((e.question, e.origin) for e in store.load("pets")) == [
        ("question 1?", "person"),
        ("question 2?", "saved"),
        ("question 4?", "synth"),
    ]
    assert store.remove("pets", origins={"synth"}) == 1 and len(store.load("pets")) == 2


def test_stores_of_earlier_versions_are_still_read(tmp_path: Path) -> None:
    legacy = tmp_path / "examples" / "bookshop.jsonl"
    legacy.parent.mkdir()
    legacy.write_text(
        json.dumps(
            {"id": "ui-bookshop-1", "question": "Old?", "sql": "SELECT 1", "db_id": "bookshop", "context": "", "meta": {"saved_at": "2026"}}
        )
        + "\n"
    )
    store = ExampleStore(tmp_path)
    assert store.keys() == ["bookshop"]
    (old,) = store.load("bookshop")
    assert (old.question, old.origin) == ("Old?", "saved")


def test_registry_names_and_changes(tmp_path: Path) -> None:
    db = _db(tmp_path / "pets.sqlite")
    registry = Registry(tmp_path / "home")
    with ReadOnlyDatabase.open(db) as database:
        fingerprint = schema_fingerprint(database.schema_sql())
    registration = registry.add("pets", db, fingerprint, tables=1)
    assert registry.get("pets") == registration and registry.find_by_fingerprint(fingerprint) == registration
    assert registration.changes() is None
    for bad in ("../x", "", "9lives", "a b", "x" * 65):
        with pytest.raises(ConfigError, match="invalid database name"):
            registry.add(bad, db, fingerprint, tables=1)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO pets (name, species) VALUES ('Bo', 'fish')")
    assert "modified" in registry.get("pets").changes()
    assert registry.remove("pets") and registry.get("pets") is None


def test_examples_follow_the_schema_not_the_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _db(tmp_path / "a.sqlite")
    copy = tmp_path / "moved" / "b.sqlite"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    other = _db(tmp_path / "c.sqlite", extra=", age INTEGER")
    key = resolve_db(str(first), home).key
    assert key.startswith("schema-") and resolve_db(str(copy), home).key == key
    assert resolve_db(str(other), home).key != key

    ExampleStore(home).add(key, [_stored(key, 7, "saved")])
    corpus = [e for e in load_corpus("default", home=home) if e.db_id == key]
    assert [e.question for e in corpus] == ["question 7?"] and corpus[0].meta["origin"] == "saved"

    with ReadOnlyDatabase.open(first) as database:
        Registry(home).add("pets", first, schema_fingerprint(database.schema_sql()), tables=1)
    assert resolve_db("pets", home).kind == "registered" and resolve_db(str(copy), home).key == "pets"
    first.unlink()
    with pytest.raises(DatabaseError, match="no longer exists"):
        resolve_db("pets", home)


def test_two_teachers_and_a_rewriter_in_other_processes_lose_nothing(tmp_path: Path) -> None:
    """Two processes teach 200 examples each while a third keeps rewriting the same store (as
    `db add --replace`, `db remove` and UI edits do): every taught example is kept, once."""
    import multiprocessing

    from fixtures import store_race

    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager:
        stop, rounds = manager.Event(), manager.list()
        rewriter = spawn.Process(target=store_race.rewrite, args=(str(tmp_path), stop, rounds))
        teachers = [spawn.Process(target=store_race.teach, args=(str(tmp_path), prefix, 200)) for prefix in ("ana", "bo")]
        rewriter.start()
        for teacher in teachers:
            teacher.start()
        for teacher in teachers:
            teacher.join(120)
        stop.set()
        rewriter.join(120)
        assert [p.exitcode for p in (*teachers, rewriter)] == [0, 0, 0]
        assert rounds[0] >= 5  # the rewrites really ran alongside
    stored = ExampleStore(tmp_path).load(store_race.KEY)
    taught = [e for e in stored if e.origin == "person"]
    assert len(taught) == 400 == len({e.id for e in taught})
    assert {e.question for e in taught} == {f"{p} question {n}?" for p in ("ana", "bo") for n in range(200)}
    assert [e for e in stored if e.origin != "person"] == []  # the rewriter's last `db remove` took its own
    raw = store_race_lines(ExampleStore(tmp_path).path_for(store_race.KEY))
    assert len(raw) == len(stored)  # no duplicate or torn lines in the file


def store_race_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_an_edit_swaps_one_example_under_the_lock(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path)
    store.add("pets", [_stored("pets", 1), _stored("pets", 2, "saved")])
    edited = _stored("pets", 3)
    assert store.swap("pets", _stored("pets", 1).id, edited)
    assert [e.question for e in store.load("pets")] == ["question 2?", "question 3?"]
    assert not store.swap("pets", "gone", _stored("pets", 4))  # removed meanwhile: nothing changes
    assert [e.question for e in store.load("pets")] == ["question 2?", "question 3?"]
    assert (tmp_path / "stores" / ".pets.lock").is_file()
