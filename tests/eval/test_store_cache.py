"""`eval run --store synth` with the synthesis cache: a cached run scores exactly as an uncached one,
the cap bounds every store, and a database whose rows change is synthesized again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fixtures.store_eval.layout import build_layout

from eval.rundir import METRICS, PREDICTIONS
from eval.stores import data_fingerprint, synthesized_store


def comparable(metrics: dict) -> dict:
    """metrics.json without what differs between two runs by nature (timings, the finish time)."""
    kept = {k: v for k, v in metrics.items() if k != "config"}
    return {k: ({a: b for a, b in v.items() if a != "latency_ms"} if isinstance(v, dict) else v) for k, v in kept.items()}


def predictions(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / PREDICTIONS).read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        for arm in ("rag", "no_rag"):
            row.get(arm, {}).pop("latency_ms", None)
    return rows


def test_cached_run_gives_the_uncached_runs_metrics_on_two_databases(tmp_path: Path, coderag):
    layout = build_layout(tmp_path / "layout", databases=2, questions=8)
    runs = {}
    for name, home in (("uncached", "home-a"), ("cached", "home-a"), ("fresh home", "home-b")):
        out = tmp_path / name.replace(" ", "-")
        code, _, err = coderag(
            "eval",
            "run",
            "--corpus",
            f"spider:{layout}",
            "--store",
            "synth",
            "--store-examples",
            "40",
            "--out",
            str(out),
            "--no-progress",
            "--overwrite",
            env={"CODERAG_HOME": str(tmp_path / home)},
        )
        assert code == 0, err
        runs[name] = (json.loads((out / METRICS).read_text(encoding="utf-8")), predictions(out))
        if name == "uncached":
            stores = sorted((tmp_path / "home-a" / "eval" / "stores").glob("*.jsonl"))
            written = {p: p.stat().st_mtime_ns for p in stores}
    assert len(stores) == 2  # one store per database
    assert {p: p.stat().st_mtime_ns for p in stores} == written  # the cached run synthesized nothing
    uncached, cached, fresh = runs["uncached"], runs["cached"], runs["fresh home"]
    assert comparable(cached[0]) == comparable(uncached[0]) == comparable(fresh[0])
    assert cached[1] == uncached[1] == fresh[1]
    metrics = uncached[0]
    assert metrics["rag"]["n"] == 16 and metrics["store"]["databases"] == 2
    assert {"synthesis", "index", "answering", "store_metrics", "retrieval_metrics"} <= set(metrics["config"]["phases_s"])


def test_store_is_capped_and_resynthesized_when_the_rows_change(tmp_path: Path):
    layout = build_layout(tmp_path / "layout", databases=1, questions=4)
    path = next((layout / "database").glob("*/*.sqlite"))
    home = tmp_path / "home"
    first = synthesized_store("db", path, home, max_examples=25)
    assert 0 < len({e.sql for e in first}) <= 25
    before = data_fingerprint(path)
    table = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone()[0]
    with sqlite3.connect(path) as conn:
        conn.execute(f"DELETE FROM {table} WHERE rowid % 2 = 0")
    conn.close()
    assert data_fingerprint(path) != before
    synthesized_store("db", path, home, max_examples=25)
    assert len(list((home / "eval" / "stores").glob("*.jsonl"))) == 2  # the old store was not reused for new rows
