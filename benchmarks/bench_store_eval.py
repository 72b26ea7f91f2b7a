"""How long `coderag eval run --store synth` takes on many unseen databases, phase by phase.

    HF_HUB_OFFLINE=1 python benchmarks/bench_store_eval.py [--databases 20] [--questions 50] [--store-examples 300] [--home DIR]

Writes a Spider-style layout of generated databases (tests/fixtures/store_eval/layout.py: 5–15
tables each, template questions; a timing workload, not a quality one), then runs the evaluation
twice in the same home: **cold** (every store synthesized and embedded) and **warm** (the stores
and their index cached under `<home>/eval/`). Prints the wall time of each phase from
metrics.json (`config.phases_s`), the total, and the machine's load.
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
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fixtures.store_eval.layout import build_layout  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

PHASES = ("synthesis", "index", "answering", "store_metrics", "retrieval_metrics")


def run(home: Path, layout: Path, store_examples: int, label: str) -> tuple[dict, float]:
    out = home / f"eval-{label}"
    env = {**os.environ, "CODERAG_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "eval",
            "run",
            "--corpus",
            f"spider:{layout}",
            "--split",
            "test",
            "--store",
            "synth",
            "--generator",
            "knn",
            "--store-examples",
            str(store_examples),
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
    return json.loads((out / "metrics.json").read_text()), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=20)
    parser.add_argument("--questions", type=int, default=50, help="questions per database")
    parser.add_argument("--store-examples", type=int, default=300, help="examples synthesized per database (eval run's default)")
    parser.add_argument("--home", type=Path, default=None, help="CODERAG_HOME (default: a new temporary one, so the first run is cold)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="coderag-bench-store-eval-"))
    layout = build_layout(home / "layout", databases=args.databases, questions=args.questions)
    results = {label: run(home, layout, args.store_examples, label) for label in ("cold", "warm")}
    load = os.getloadavg()
    table = Table(
        title=f"eval run --store synth: {args.databases} databases × {args.questions} questions, "
        f"{args.store_examples} examples each ({os.cpu_count()} cores, load {load[0]:.1f} after)"
    )
    table.add_column("phase")
    for label in results:
        table.add_column(f"{label} (s)", justify="right")
    for phase in PHASES:
        table.add_row(phase, *(f"{metrics['config'].get('phases_s', {}).get(phase, float('nan')):.1f}" for metrics, _ in results.values()))
    table.add_row("whole command", *(f"{wall:.1f}" for _, wall in results.values()))
    cold = results["cold"][0]
    table.add_row(
        "questions / store examples indexed", *(f"{m['config']['n_test']} / {m['config']['n_train_indexed']}" for m, _ in results.values())
    )
    Console().print(table)
    print(f"EX {cold['rag']['ex']:.3f}; store coverage {cold.get('store', {}).get('coverage')}")


if __name__ == "__main__":
    main()
