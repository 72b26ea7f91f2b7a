"""Schema-grounded synthesis speed and memory (target: a few thousand examples for a 10-table
database in under 2 minutes on 2 cores, rules only).

    .venv/bin/python benchmarks/bench_grounded.py                       # 10-table database, 3,000 examples
    .venv/bin/python benchmarks/bench_grounded.py --databases logistics,wide,big --examples 2000

Databases are generated from a fixed seed into a temporary directory (tests/fixtures/grounded):
`logistics` (10 related tables, ~9,000 rows), `wide` (200 tables chained by foreign keys) and
`big` (a 1,000,000-row table and a 1,000-row table it refers to). Each database runs in its own
process, so peak RSS is that run's own: introspection + synthesis, every query run read-only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.grounded import introspect, synthesize_examples  # noqa: E402
from tests.fixtures.grounded.databases import make_big, make_logistics, make_wide  # noqa: E402

BUILDERS = {"logistics": make_logistics, "wide": make_wide, "big": make_big}


def run_one(name: str, examples: int, seed: int, time_budget_s: float) -> dict:
    """Build one database, introspect it and synthesize; the numbers as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        path = BUILDERS[name](Path(tmp) / f"{name}.sqlite")
        started = time.perf_counter()
        schema = introspect(path)
        result = synthesize_examples(
            path, max_examples=examples, seed=seed, schema=schema, show_progress=False, time_budget_s=time_budget_s
        )
        seconds = time.perf_counter() - started
    stats = result.stats
    return {
        "database": name,
        "tables": len(schema.tables),
        "rows": sum(t.rows for t in schema.tables),
        "introspect_s": schema.seconds,
        "seconds": seconds,
        "examples": stats.kept,
        "questions": stats.questions,
        "tried": stats.tried,
        "merged": stats.merged,
        "stopped": stats.stopped,
        "by_shape": stats.by_shape,
        "rejected": stats.rejected,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="logistics", help=f"comma-separated, of {', '.join(BUILDERS)}")
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=120.0, help="seconds per database (synthesize_examples)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one database in this process, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.examples, args.seed, args.time_budget)))
        return

    runs = []
    for name in args.databases.split(","):
        command = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--examples",
            str(args.examples),
            "--seed",
            str(args.seed),
            "--time-budget",
            str(args.time_budget),
        ]
        runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))

    console = Console(width=140)
    overview = Table(title=f"Schema-grounded synthesis (cap {args.examples:,} examples, seed {args.seed})")
    for header in (
        "database",
        "tables",
        "rows",
        "introspect s",
        "total s",
        "examples",
        "questions",
        "tried",
        "merged",
        "stopped",
        "peak RSS MB",
    ):
        overview.add_column(header, justify="left" if header in ("database", "stopped") else "right")
    for run in runs:
        overview.add_row(
            run["database"],
            str(run["tables"]),
            f"{run['rows']:,}",
            f"{run['introspect_s']:.2f}",
            f"{run['seconds']:.1f}",
            f"{run['examples']:,}",
            f"{run['questions']:,}",
            f"{run['tried']:,}",
            f"{run['merged']:,}",
            run["stopped"],
            f"{run['peak_rss_mb']:.0f}",
        )
    console.print(overview)

    shapes = Table(title="Examples by shape")
    shapes.add_column("shape")
    for run in runs:
        shapes.add_column(run["database"], justify="right")
    for shape in sorted({s for run in runs for s in run["by_shape"]}):
        shapes.add_row(shape, *(str(run["by_shape"].get(shape, 0)) for run in runs))
    console.print(shapes)
    for run in runs:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(run["rejected"].items(), key=lambda kv: -kv[1]))
        console.print(f"{run['database']} rejected: {reasons}")


if __name__ == "__main__":
    main()
