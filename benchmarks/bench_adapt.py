"""Offline answers (knn, no LLM) on held-out databases: coverage, EX, and abstention's precision.

    HF_HUB_OFFLINE=1 python benchmarks/bench_adapt.py [--home DIR] [--examples 2000] [--no-adapt] [--out FILE.json]

The five databases and 100 hand-written questions of `tests/fixtures/heldout` (written and
committed before any adaptation rule; nothing is fitted on them). Each database gets the store
`coderag db add` synthesizes for it, and every question goes through `coderag eval run --store
synth --generator knn`, the path users get. Printed per database and overall:

- coverage: some stored example's SQL returns the gold result (the store could answer it);
- knn EX: the answer's EX when knn always answers (`--force`);
- answered: the share answered at `retrieval.min_confidence`; precision: the share of those right;
- adapted: the share of answers whose SQL was adapted from the retrieved example (rag.adapt).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fixtures.heldout.databases import QUESTIONS, build_all  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rag.io import read_jsonl, write_jsonl_atomic  # noqa: E402


def corpus_file(directory: Path) -> Path:
    """The held-out questions as a `jsonl:` corpus (test split) pointing at freshly built databases."""
    paths = build_all(directory / "databases")
    rows = [
        {
            "id": f"{row['db']}-{i}",
            "db_id": row["db"],
            "question": row["question"],
            "sql": row["sql"],
            "db_path": str(paths[row["db"]]),
            "split": "test",
        }
        for i, row in enumerate(read_jsonl(QUESTIONS))
    ]
    target = directory / "heldout.jsonl"
    write_jsonl_atomic(target, rows)
    return target


def summarize(records: list[dict], threshold: float) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record["db_id"], []).append(record)
    groups["all"] = records
    table = {}
    for name, rows in groups.items():
        arm = [r["rag"] for r in rows]
        answered = [a for a in arm if a.get("confidence") is not None and a["confidence"] >= threshold]
        table[name] = {
            "n": len(rows),
            "knn_ex": sum(bool(a.get("ex")) for a in arm) / len(rows),
            "answered": len(answered) / len(rows),
            "precision": (sum(bool(a.get("ex")) for a in answered) / len(answered)) if answered else float("nan"),
            "adapted": sum(bool(a.get("adapted")) for a in arm) / len(rows),
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="CODERAG_HOME to use (stores are cached there); default: a temporary one")
    parser.add_argument("--examples", type=int, default=2000, help="examples synthesized per database (db add's default)")
    parser.add_argument("--no-adapt", action="store_true", help="knn replays the closest example (adapt.enabled false): the 'before'")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()
    console = Console()
    home = args.home or Path(tempfile.mkdtemp(prefix="coderag-bench-adapt-"))
    home.mkdir(parents=True, exist_ok=True)
    corpus = corpus_file(home / "heldout")
    out = home / ("eval-heldout-knn" if args.no_adapt else "eval-heldout-adapt")
    env = {**os.environ, "CODERAG_HOME": str(home), "CODERAG_ADAPT__ENABLED": "false" if args.no_adapt else "true"}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "eval",
            "run",
            "--corpus",
            f"jsonl:{corpus}",
            "--store",
            "synth",
            "--generator",
            "knn",
            "--store-examples",
            str(args.examples),
            "--no-baseline",
            "--out",
            str(out),
            "--overwrite",
        ],
        check=True,
        env=env,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    metrics = json.loads((out / "metrics.json").read_text())
    threshold = metrics["abstention"]["threshold"] if "abstention" in metrics else float("nan")
    records = [r for r in read_jsonl(out / "predictions.jsonl")]
    by_id = {r["id"]: r for r in read_jsonl(corpus)}
    for record in records:
        record["db_id"] = by_id[record["id"]]["db_id"]
    table = summarize(records, threshold)
    load = os.getloadavg()
    view = Table(
        title=f"knn{'' if args.no_adapt else ' + adapt'} on the held-out fixtures (threshold {threshold}, {wall:.0f} s, load {load[0]:.1f})"
    )
    for column in ("database", "n", "knn EX (always answering)", "answered", "precision", "adapted"):
        view.add_column(column, justify="left" if column == "database" else "right")
    for name, row in table.items():
        view.add_row(
            name, str(row["n"]), f"{row['knn_ex']:.3f}", f"{row['answered']:.3f}", f"{row['precision']:.3f}", f"{row['adapted']:.3f}"
        )
    console.print(view)
    store = metrics.get("store", {})
    console.print(
        f"store coverage {store.get('coverage')} recall@3 {store.get('recall@3')} ({store.get('store_examples')} stored examples)"
    )
    if args.out:
        args.out.write_text(
            json.dumps({"table": table, "store": store, "threshold": threshold, "wall_s": round(wall, 1), "load": load[0]}, indent=2)
        )


if __name__ == "__main__":
    main()
