"""Uploads and pasted schemas: private copies, size and type checks, read-only opening, refused scripts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rag.errors import DatabaseError, SQLError
from rag.settings import load_settings
from ui.sources import PrivateDir

MB = 2**20


@pytest.fixture
def private() -> PrivateDir:
    directory = PrivateDir()
    yield directory
    directory.close()


def test_private_dir_is_only_for_this_user(private: PrivateDir) -> None:
    assert stat.S_IMODE(private.path.stat().st_mode) == 0o700


def test_upload_is_copied_privately_and_opened_read_only(private: PrivateDir, pets_db: Path) -> None:
    choice = private.add_upload(pets_db, max_bytes=MB)
    copy = Path(choice.path)
    assert copy.parent == private.path and copy != pets_db
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert choice.kind == "upload" and choice.label == "my pets.sqlite" and choice.tables == 1
    assert "CREATE TABLE pets" in choice.schema
    assert choice.key.startswith("upload-") and choice.key.endswith("-my_pets")
    with choice.open(load_settings(execution={"timeout_s": 2, "max_rows": 10})) as db:
        assert db.execute("SELECT count(*) FROM pets").rows == [(3,)]
        with pytest.raises(SQLError) as info:
            db.execute("DELETE FROM pets")
        assert info.value.kind == "forbidden"
    # the same bytes get the same key, so saved examples follow the file
    assert private.add_upload(pets_db, max_bytes=MB).key == choice.key


def test_upload_that_is_not_sqlite_is_refused(private: PrivateDir, tmp_path: Path) -> None:
    fake = tmp_path / "notes.sqlite"
    fake.write_text("CREATE TABLE t (a INT); -- a text file, not a database\n")
    with pytest.raises(DatabaseError, match="notes.sqlite is not a SQLite database"):
        private.add_upload(fake, max_bytes=MB)
    assert list(private.path.iterdir()) == []


def test_upload_over_the_size_limit_is_refused(private: PrivateDir, pets_db: Path) -> None:
    with pytest.raises(DatabaseError, match="upload limit"):
        private.add_upload(pets_db, max_bytes=100)
    assert list(private.path.iterdir()) == []


def test_corrupt_and_empty_uploads_are_refused(private: PrivateDir, tmp_path: Path, pets_db: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(pets_db.read_bytes()[:100] + b"\xff" * 5000)
    with pytest.raises(DatabaseError):
        private.add_upload(corrupt, max_bytes=MB)
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("PRAGMA user_version = 1").connection.close()
    with pytest.raises(DatabaseError, match="no tables"):
        private.add_upload(empty, max_bytes=MB)


def _schema(private: PrivateDir, script: str, **limits):
    options = {"max_chars": 10_000, "max_bytes": MB, "timeout_s": 2.0} | limits
    return private.add_schema(script, **options)


def test_pasted_schema_builds_a_read_only_database(private: PrivateDir, pets_script: str) -> None:
    choice = _schema(private, "-- my pets\n" + pets_script)
    assert choice.kind == "schema" and choice.tables == 1 and choice.key.startswith("schema-")
    with choice.open(load_settings(execution={"timeout_s": 2, "max_rows": 10})) as db:
        assert db.execute("SELECT name FROM pets WHERE species = 'cat'").rows == [("Tom",)]
    assert _schema(private, "-- my pets\n" + pets_script).key == choice.key


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "the schema is empty"),
        ("CREATE TABLE t (a INT,, b TEXT);", "does not load in SQLite"),
        ("CREATE TABLE t (a INT); INSERT INTO nowhere VALUES (1);", "does not load in SQLite"),
        ("INSERT INTO t VALUES (1);", "no CREATE TABLE"),
        ("SELECT 1;", "refused: SELECT 1"),
        ("CREATE TABLE t (a INT); ATTACH DATABASE '/tmp/coderag-evil.db' AS evil;", "refused: ATTACH"),
        ("CREATE TABLE t (a INT); VACUUM INTO '/tmp/coderag-evil.db';", "refused: VACUUM"),
        ("CREATE TABLE t (a INT); PRAGMA writable_schema = ON;", "refused: PRAGMA writable_schema"),
        ("CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END;", "refused: CREATE TRIGGER"),
        ("CREATE INDEX i ON t (a);", "no CREATE TABLE"),
    ],
)
def test_bad_schemas_are_refused(private: PrivateDir, script: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        _schema(private, script)
    assert not Path("/tmp/coderag-evil.db").exists()
    assert [p for p in private.path.iterdir()] == []


def test_schema_limits(private: PrivateDir) -> None:
    with pytest.raises(DatabaseError, match="characters; the limit"):
        _schema(private, "CREATE TABLE t (a TEXT);" + "INSERT INTO t VALUES ('x');" * 10, max_chars=100)
    grow = (
        "CREATE TABLE t (a TEXT);"
        "INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT randomblob(1000) FROM n;"
    )
    with pytest.raises(DatabaseError, match="MB limit|longer than"):
        _schema(private, grow, max_bytes=MB, timeout_s=5.0)


def test_a_registered_file_named_by_its_path_is_one_database(tmp_path: Path, pets_db: Path) -> None:
    """`coderag ui --db FILE` on a registered file: the registered database (one picker entry, by
    its name), not a second entry under the file name; a copy elsewhere stays a file of its own."""
    from rag.databases import describe, resolve_db
    from rag.registry import Registry, schema_fingerprint
    from ui.sources import named_database

    home = tmp_path / "home"
    described = describe(resolve_db(str(pets_db), home))
    Registry(home).add("pets", pets_db, schema_fingerprint(described.schema), tables=described.tables)
    ref = named_database(str(pets_db), home)
    assert (ref.kind, ref.key, ref.label) == ("registered", "pets", "pets")
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(pets_db.read_bytes())
    other = named_database(str(copy), home)
    assert (other.kind, other.key, other.label) == ("file", "pets", "copy.sqlite")
