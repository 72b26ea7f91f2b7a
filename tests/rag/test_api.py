"""The Python API (rag/api.py): the docs page docs/python.md runs as a doctest on the demo database,
and the module's own doctests; bad input is a one-line CodeRagError."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import rag.api

DOCS = Path(__file__).resolve().parents[2] / "docs" / "python.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.fixture
def shared_encoder(monkeypatch: pytest.MonkeyPatch, shipped_encoder):
    """The session's shipped int8 retriever instead of loading it again (the models are otherwise real)."""
    import rag.encoders

    load = rag.encoders.load_encoder

    def load_shared(name: str = "bundled", *, backend: str = "torch", **options: object):
        if (name, backend) == ("shipped", "onnx-int8") and not options.get("max_seq_length"):
            return shipped_encoder()
        return load(name, backend=backend, **options)

    monkeypatch.setattr(rag.encoders, "load_encoder", load_shared)


def test_docs_page_runs(shared_encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODERAG_HOME", str(tmp_path))  # the page teaches bookshop an example: not the session's store
    result = doctest.testfile(str(DOCS), module_relative=False, optionflags=FLAGS, verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0


def test_module_doctests() -> None:
    result = doctest.testmod(rag.api, optionflags=FLAGS)
    assert result.attempted >= 3 and result.failed == 0


def test_bad_input_is_one_line(shared_encoder) -> None:
    from rag.errors import ConfigError, DatabaseError

    with rag.api.open("bookshop") as db:
        with pytest.raises(ConfigError, match="limit is 2,000"):
            db.ask("x" * 10_000_000)
        with pytest.raises(ConfigError, match="empty"):
            db.ask("   ")
        assert db._owner._service is None  # refused before any model loaded
        with pytest.raises(Exception) as refused:
            db.teach("Delete every book", "DELETE FROM books")
        assert "\n" not in str(refused.value)
    with pytest.raises(DatabaseError, match="closed"):
        db.sql("SELECT 1")
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        rag.api.open(__file__)
