"""`coderag db copy SOURCE URL`: a user's SQLite file into a real PostgreSQL (tests/fixtures/servers.py),
registered and asked there; bad input is one line and writes nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixtures.servers import OWNER, READER


@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    """A small SQLite file of the kind people have: keys, text, integers, floats, a NULL."""
    path = tmp_path / "little_shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE makers (maker_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);
            CREATE TABLE gadgets (gadget_id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, maker_id INTEGER REFERENCES makers(maker_id));
            """
        )
        conn.executemany(
            "INSERT INTO makers VALUES (?, ?, ?)", [(i, f"Maker {i}", ["Norway", "Chile", "Kenya"][i % 3]) for i in range(1, 13)]
        )
        conn.executemany(
            "INSERT INTO gadgets VALUES (?, ?, ?, ?)",
            [(i, f"Gadget {i}", round(9.99 + i * 1.25, 2) if i % 7 else None, 1 + i % 12) for i in range(1, 81)],
        )
    return path


def _one_line(result: Any, *words: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_copy_into_postgres_then_ask(coderag: Any, postgres_server: Any, shop_file: Path, tmp_path: Path) -> None:
    postgres_server.create_database("copy_target")
    owner_url, reader_url = postgres_server.url(OWNER, database="copy_target"), postgres_server.url(READER, database="copy_target")
    owner_env = postgres_server.password_env(OWNER)

    copied = coderag("db", "copy", str(shop_file), owner_url, "--name", "little-pg", "--examples", "300", "--quiet", env=owner_env)
    assert copied.returncode == 0, copied.stderr
    assert "2 tables, 92 rows" in copied.stdout and "registered 'little-pg'" in copied.stdout
    keys = postgres_server.psql(
        "SELECT tc.table_name, tc.constraint_type FROM information_schema.table_constraints tc "
        "WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY 1, 2",
        "copy_target",
    )
    assert keys.split() == ["gadgets|FOREIGN", "KEY", "gadgets|PRIMARY", "KEY", "makers|PRIMARY", "KEY"]
    types = postgres_server.psql(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'gadgets' ORDER BY 1", "copy_target"
    )
    assert "price|double precision" in types and "name|text" in types and "gadget_id|bigint" in types

    answer = coderag("ask", "--db", reader_url, "--json", "How many gadgets are there?", env=postgres_server.password_env(READER))
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["rows"] == [[80]]

    again = coderag("db", "copy", str(shop_file), owner_url, "--name", "little-pg2", "--quiet", env=owner_env)
    _one_line(again, "already has the table(s) gadgets, makers", "--replace")
    assert postgres_server.psql("SELECT count(*) FROM gadgets", "copy_target").strip() == "80"


def test_not_sqlite_writes_nothing(coderag: Any, postgres_server: Any, tmp_path: Path) -> None:
    postgres_server.create_database("copy_empty")
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("these are my notes, not a database\n")
    result = coderag(
        "db", "copy", str(not_sqlite), postgres_server.url(OWNER, database="copy_empty"), env=postgres_server.password_env(OWNER)
    )
    _one_line(result, "not a SQLite database")
    tables = postgres_server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "copy_empty")
    assert tables.strip() == "0"


def test_a_user_without_rights_writes_nothing(coderag: Any, postgres_server: Any, shop_file: Path) -> None:
    postgres_server.create_database("copy_locked")
    result = coderag(
        "db",
        "copy",
        str(shop_file),
        postgres_server.url(READER, database="copy_locked"),
        "--quiet",
        env=postgres_server.password_env(READER),
    )
    _one_line(result, "cannot load into", "permission denied")
    assert postgres_server.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "copy_locked").strip() == "0"
