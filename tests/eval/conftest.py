"""Fixtures for the evaluation tests: one shared knn run on the bundled test split (through the real
`coderag` entry point, in process), and bundled examples written out in Spider's format."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures.cli import invoke_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"


@pytest.fixture(scope="module")
def knn_run(tmp_path_factory: pytest.TempPathFactory, coderag_home: Path, encoder) -> Path:
    """`coderag eval run --generator knn` on the whole bundled test split, once per module."""
    import rag.encoders

    out = tmp_path_factory.mktemp("knn_run") / "run"
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("CODERAG_")]:
            patch.delenv(name)
        patch.setenv("CODERAG_HOME", str(coderag_home))
        patch.setattr(rag.encoders, "load_encoder", lambda *args, **kwargs: encoder)
        code = invoke_main(["eval", "run", "--generator", "knn", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture
def spider_layout() -> Callable[..., tuple[Path, Path, Path]]:
    return write_spider_layout


def write_spider_layout(predictions: list[dict], directory: Path, arm: str = "rag") -> tuple[Path, Path, Path]:
    """gold.sql, pred.sql and DIR/<db_id>/<db_id>.sqlite for bundled-corpus predictions."""
    from rag.corpus import load_corpus

    contexts = {e.id: e.context for e in load_corpus("bundled", None)}
    db_dir = directory / "database"
    gold_lines, pred_lines = [], []
    for record in predictions:
        db_file = db_dir / record["db_id"] / f"{record['db_id']}.sqlite"
        db_file.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(db_file) as conn:
            conn.executescript(contexts[record["id"]])
        conn.close()
        gold_lines.append(f"{' '.join(record['gold_sql'].split())}\t{record['db_id']}")
        pred_lines.append(" ".join((record[arm]["sql"] or "").split()))
    gold, pred = directory / "gold.sql", directory / "pred.sql"
    gold.write_text("\n".join(gold_lines) + "\n", encoding="utf-8")
    pred.write_text("\n".join(pred_lines) + "\n", encoding="utf-8")
    return gold, pred, db_dir
