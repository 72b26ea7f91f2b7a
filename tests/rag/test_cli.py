"""The `coderag` command line: happy paths and every bad input gets one line, a non-zero exit, no traceback.

Most tests run the real entry point in this process (the `coderag` fixture); the `real_process`
ones start the installed command as a user does, for exit codes and tracebacks end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.cli import CliResult

from rag.corpus import DEMO_DIR
from rag.index import index_dir_name

FIRST_EXAMPLE = json.loads((DEMO_DIR / "bookshop" / "examples.jsonl").read_text().splitlines()[0])


def real_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The entry point in a subprocess, exactly as a user runs it."""
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=full_env, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess | CliResult, code: int, text: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], proc.stderr


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "mine.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');")
    conn.commit()
    conn.close()
    return path


def test_ask_json_shape_in_a_real_process(default_index):
    proc = real_process("ask", FIRST_EXAMPLE["question"], "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload) == {
        "question",
        "db",
        "generator",
        "k",
        "retrieved",
        "sql",
        "columns",
        "rows",
        "error",
        "timings_ms",
        "notice",
        "confidence",
        "adapted",
        "link",
        "composed",
        "prompt_chars",
        "repaired",
    }
    assert {"authors", "books"} <= set(payload["link"]["named_tables"])  # what the question was linked to
    assert payload["generator"] == "knn" and payload["db"] == "bookshop" and payload["k"] == 3
    assert set(payload["retrieved"][0]) == {"id", "score", "question", "sql", "db"}
    assert payload["sql"] == FIRST_EXAMPLE["sql"] and payload["rows"] and payload["error"] is None
    assert "No LLM is configured" in payload["notice"]


@pytest.mark.parametrize(
    ("db", "question", "expected", "flags"),
    [
        ("bookshop", "How many customers are there?", "SELECT COUNT(*) FROM customers", ()),
        # issue 25's done-when: one row per publisher, shown by its name (not its id)
        (
            "bookshop",
            "How many books does each publisher have?",
            "SELECT p.name, COUNT(*) FROM books b JOIN publishers p ON b.publisher_id = p.publisher_id GROUP BY p.publisher_id",
            (),
        ),
    ],
)
def test_the_demo_answers_everyday_questions_offline(coderag, default_index, db, question, expected, flags):
    """The demo databases ship the store `db add` synthesizes for them: knn answers without an LLM,
    and the answer is the result of the query a person would write (compared on the demo file)."""
    from rag.corpus import demo_db_path
    from rag.settings import load_settings

    proc = coderag("ask", question, "--db", db, "--json", *flags)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["error"] is None and payload["generator"] == "knn"
    conn = sqlite3.connect(demo_db_path(db, load_settings().home))
    try:
        gold = sorted(map(list, conn.execute(expected).fetchall()))
    finally:
        conn.close()
    assert sorted(payload["rows"]) == gold, (payload["sql"], payload["adapted"])


def test_ask_json_says_which_example_was_adapted_and_how(coderag, default_index, monkeypatch):
    """No stored example counts Toronto's customers. By default knn composes the SQL from what the
    question names (rag.compose): the customers table and the stored city 'Toronto'. With composing
    off, knn adapts the closest example's SQL and says from which example and how; whether it is
    confident enough to run it unasked is the calibrated model's call (rag.abstain); abstaining, it
    runs nothing, and --force runs the adapted SQL."""
    from rag.corpus import DEMO_DIR, demo_db_path
    from rag.settings import load_settings

    assert "'Toronto'" not in (DEMO_DIR / "bookshop" / "synth.jsonl").read_text()
    conn = sqlite3.connect(demo_db_path("bookshop", load_settings().home))
    try:
        gold = conn.execute("SELECT COUNT(*) FROM customers WHERE city = 'Toronto'").fetchall()
    finally:
        conn.close()
    composed = coderag("ask", "How many customers live in Toronto?", "--db", "bookshop", "--json")
    assert composed.returncode == 0, composed.stderr
    answer = json.loads(composed.stdout)
    assert answer["rows"] == [list(gold[0])] and answer["composed"]["coverage"] == 1.0 and answer["adapted"] is None
    assert any(v["value"] == "Toronto" for v in answer["link"]["values"])

    monkeypatch.setenv("CODERAG_LINKING__COMPOSE", "false")
    unasked = coderag("ask", "How many customers live in Toronto?", "--db", "bookshop", "--json")
    assert unasked.returncode in (0, 8), unasked.stderr
    if unasked.returncode == 8:
        assert json.loads(unasked.stdout)["rows"] == [] and "confidence" in unasked.stderr
    proc = coderag("ask", "How many customers live in Toronto?", "--db", "bookshop", "--json", "--force")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert json.loads(unasked.stdout)["sql"] == payload["sql"]
    assert payload["rows"] == [list(gold[0])], payload["sql"]
    assert payload["adapted"]["from_id"].startswith("bookshop")
    assert any("'Toronto'" in edit for edit in payload["adapted"]["edits"]), payload["adapted"]


def test_ask_prints_examples_sql_and_table(coderag, default_index):
    proc = coderag("ask", "How many customers are there in each country?", "--db", "bookshop")
    assert proc.returncode == 0, proc.stderr
    assert "Retrieved examples" in proc.stdout and "SQL (knn)" in proc.stdout and "rows shown" in proc.stdout
    assert "No LLM is configured" in proc.stderr


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("ask", "   "), 2, "the question is empty"),
        (("ask", "x" * 100_000), 2, "the limit is 2,000"),
        (("ask", "How many?", "--db", "/nonexistent/db.sqlite"), 4, "database not found"),
        (("ask", "How many?", "--generator", "llm"), 2, "needs a GGUF"),
        (("ask", "How many?", "--llm-model-path", "/nonexistent/model.gguf"), 6, "GGUF model file not found"),
        (("ask", "How many?", "--generator", "wizard"), 2, "invalid setting generator"),
        (("sql", "SELECT 1", "--db", "/nonexistent/db.sqlite"), 4, "database not found"),
        (("index", "build", "--corpus", "nowhere"), 3, "unknown corpus"),
        (("index", "build", "--template", "fancy"), 2, "unknown document template"),
    ],
)
def test_bad_input_fails_early_with_one_line(coderag, args, code, text):
    assert_one_line_error(coderag(*args), code, text)


def test_bad_database_files_in_a_real_process(tmp_path, sqlite_file):
    text_file = tmp_path / "notes.sqlite"
    text_file.write_text("not a database")
    assert_one_line_error(real_process("ask", "How many?", "--db", str(text_file)), 4, "not a SQLite database")
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(sqlite_file.read_bytes()[:16] + b"\x00" * 200)
    assert_one_line_error(real_process("sql", "SELECT * FROM t", "--db", str(corrupt)), 4, "corrupt")


def test_non_gguf_model_file(coderag, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    assert_one_line_error(coderag("ask", "How many?", "--llm-model-path", str(fake)), 6, "not a GGUF model file")


def test_sql_command_refuses_writes_and_leaves_db_unchanged(coderag, sqlite_file):
    before = hashlib.sha256(sqlite_file.read_bytes()).hexdigest()
    for statement, text in [
        ("DELETE FROM t", "read-only"),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "expected a SELECT"),
        ("PRAGMA user_version = 5", "expected a SELECT"),
        ("SELECT 1; DROP TABLE t", "one SQL statement"),
    ]:
        assert_one_line_error(coderag("sql", statement, "--db", str(sqlite_file)), 7, text)
    assert hashlib.sha256(sqlite_file.read_bytes()).hexdigest() == before
    proc = coderag("sql", "SELECT a, b FROM t ORDER BY a", "--db", str(sqlite_file), "--json")
    assert json.loads(proc.stdout) == {"columns": ["a", "b"], "rows": [[1, "x"], [2, "y"]], "truncated": False}


def test_runaway_query_is_stopped(coderag, sqlite_file):
    proc = coderag(
        "sql",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
        "--db",
        str(sqlite_file),
        "--timeout",
        "0.5",
    )
    assert_one_line_error(proc, 7, "time limit")


def test_corrupt_or_mismatched_index(coderag, default_index, coderag_home, tmp_path, monkeypatch):
    monkeypatch.setenv("CODERAG_EMBEDDER__MODEL", "bundled")  # the session's default index: all-MiniLM-L6-v2 on torch
    monkeypatch.setenv("CODERAG_EMBEDDER__BACKEND", "torch")
    home = tmp_path / "home"
    shutil.copytree(coderag_home / "indexes", home / "indexes")
    manifest = default_index.manifest
    index_dir = home / "indexes" / index_dir_name("default", manifest["template"], manifest["embedder_fingerprint"])
    (index_dir / "docs.jsonl").write_text("{broken\n")
    assert_one_line_error(coderag("ask", "How many customers?", env={"CODERAG_HOME": str(home)}), 5, "corrupt documents file")
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["count"] = manifest["count"] + 1
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(coderag_home / "indexes" / index_dir.name / "docs.jsonl", index_dir / "docs.jsonl")
    assert_one_line_error(coderag("ask", "How many customers?", env={"CODERAG_HOME": str(home)}), 5, "inconsistent")


def test_llm_answer_without_sql_exits_nonzero(coderag, tiny_gguf, default_index):
    # Without the grammar the random-weights model writes gibberish: no valid SQL comes back.
    proc = coderag("ask", "How many customers are there?", "--llm-model-path", str(tiny_gguf), env={"CODERAG_LLM__MAX_TOKENS": "16"})
    assert proc.returncode == 7 and "Traceback" not in proc.stderr
    assert any(word in proc.stderr for word in ("no SQL", "parse", "SELECT query", "SQLite error"))


def test_index_build_writes_three_files(coderag, tmp_path):
    out = tmp_path / "idx"
    proc = coderag("index", "build", "--corpus", "demo", "--template", "question_sql", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["docs.jsonl", "index.faiss", "manifest.json"]
    info = coderag("index", "info", str(out))
    assert json.loads(info.stdout)["template"] == "question_sql"


def test_models_pull_offline_is_a_clear_error(coderag, tmp_path):
    proc = coderag("models", "pull", env={"HF_HUB_OFFLINE": "1", "CODERAG_HOME": str(tmp_path)})
    assert_one_line_error(proc, 6, "could not download")
    assert not any((tmp_path / "models").glob("*.gguf"))


def test_unknown_option_is_a_usage_error_not_a_traceback(coderag):
    result = coderag("ask", "How many?", "--nope")
    assert result.returncode == 2 and "No such option" in result.stderr and "Traceback" not in result.stderr
