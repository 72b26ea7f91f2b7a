"""Inputs: corpus examples and directories of source code, with bad files counted and skipped."""

from __future__ import annotations

import pytest

from rag.errors import DataError
from synth.sources import (
    plain_snippets,
    python_snippets,
    snippets_from_dir,
    snippets_from_examples,
)

PYTHON = '''import os


def load(path):
    """Read a file and return its text."""
    with open(path) as handle:
        return handle.read()


class Store:
    """Keeps values by key."""

    def __init__(self):
        self.data = {}

    def put(self, key, value):
        """Remember a value under a key."""
        self.data[key] = value
        return value
'''


def test_corpus_examples_become_sql_snippets(shop_examples):
    report = snippets_from_examples(shop_examples)
    first = report.snippets[0]
    assert first.language == "sql" and first.origin == "test:train:1"
    assert first.text == "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50"  # no trailing semicolon
    assert first.question == "Which furniture products cost more than 50?"
    assert first.explanation.startswith("Filters products")
    assert "CREATE TABLE products" in first.context
    assert first.meta == {"domain": "retail", "db_id": "shop-1"}


def test_python_functions_classes_and_methods():
    found = {s.name: s for s in python_snippets(PYTHON, "pkg/mod.py")}
    assert set(found) == {"load", "Store", "Store.put"}  # __init__ is shorter than three lines
    load = found["load"]
    assert load.origin == "pkg/mod.py:load" and load.language == "python"
    assert load.docstring == "Read a file and return its text."
    assert load.body == "def load(path):\n    with open(path) as handle:\n        return handle.read()"
    put = found["Store.put"]
    assert put.text.startswith("def put(self, key, value):")  # dedented method
    assert put.body == "def put(self, key, value):\n    self.data[key] = value\n    return value"


def test_plain_splitter_takes_leading_comments_as_docstrings():
    source = "// Add two numbers.\nfunction add(a, b) {\n  const s = a + b;\n  return s;\n}\n\nfunction mul(a, b) {\n  return a * b;\n}\n"
    first, second = plain_snippets(source, "m.js", "javascript")
    assert first.docstring == "Add two numbers."
    assert first.body == "function add(a, b) {\n  const s = a + b;\n  return s;\n}"
    assert first.origin == "m.js:1-6"
    assert second.docstring == "" and second.body == second.text


def test_directory_with_bad_files(tmp_path):
    (tmp_path / "good.py").write_text(PYTHON)
    (tmp_path / "blob.py").write_bytes(b"\x00\x01binary")
    (tmp_path / "latin.py").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    (tmp_path / "broken.py").write_text("def broken(:\n    pass\n    pass\n    pass\n")
    (tmp_path / "notes.txt").write_text("not code")
    (tmp_path / "q.sql").write_text("-- every product\nSELECT * FROM products;\nSELECT 1;\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.py").write_text(PYTHON)
    report = snippets_from_dir(tmp_path)
    assert report.files == 5  # .txt is not source code; hidden directories are skipped
    assert report.skipped == {"binary file": 1, "undecodable file (not UTF-8)": 1, "python syntax error (split as plain text)": 1}
    origins = {s.origin for s in report.snippets}
    assert "good.py:load" in origins and "q.sql:1" in origins
    sql = [s for s in report.snippets if s.language == "sql"]
    assert (sql[0].docstring, sql[0].text) == ("every product", "SELECT * FROM products")


def test_missing_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        snippets_from_dir(tmp_path / "nope")
