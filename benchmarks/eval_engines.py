"""`coderag eval run --engine-url` on every engine: does EX measured on SQLite carry over?

    .venv/bin/python benchmarks/eval_engines.py [--corpus heldout|bundled|SPEC] [--store synth|corpus] [--limit N]

One `eval run` on SQLite per engine with `--engine-url` (each time the same questions and the same
predictions: knn is deterministic). The default corpus is the held-out fixtures (tests/fixtures/heldout:
five hand-written databases, 100 questions) with `--store synth`, as benchmarks/bench_adapt.py runs
them; the bundled corpus's knn EX is near zero (each gretel question has its own tiny database, so
no stored example is of the same database). The table shows, per engine, EX there against EX on SQLite
over the same scored questions, the share of SQLite-right answers that stay right there, the gold
queries that fail there, and the seconds the engine pass took (copying each test database in,
transpiling, running, dropping). PostgreSQL and MariaDB are started as the tests start them
(tests/fixtures/servers.py: Debian's packages, a private loopback port, a temporary directory,
stopped at the end); DuckDB is a temporary file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CODERAG = str(Path(sys.executable).parent / "coderag")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="heldout", help="heldout (the held-out fixtures), bundled, or a corpus spec")
    parser.add_argument("--store", default=None, help="corpus or synth (default: synth for heldout, else corpus)")
    parser.add_argument("--store-examples", type=int, default=300)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--generator", default="knn")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    args = parser.parse_args()

    from fixtures.servers import OWNER, OWNER_PASSWORD, MariaDBServer, PostgresServer, find_mariadb, find_postgres

    console = Console()
    work = Path(tempfile.mkdtemp(prefix="coderag-eval-engines-"))
    env = {**os.environ, "CODERAG_HOME": os.environ.get("CODERAG_HOME", str(work / "home")), "HF_HUB_OFFLINE": "1"}
    servers = []
    rows = []
    try:
        postgres = PostgresServer(find_postgres()).start()  # type: ignore[arg-type]
        servers.append(postgres)
        postgres.create_roles()
        postgres.create_database("coderag_eval")
        mariadb = MariaDBServer(find_mariadb()).start()  # type: ignore[arg-type]
        servers.append(mariadb)
        mariadb.create_roles()
        mariadb.create_database("coderag_eval")
        engines = {
            "DuckDB": (f"duckdb:///{work / 'eval.duckdb'}", ""),
            "PostgreSQL 15": (postgres.url(OWNER, "coderag_eval"), OWNER_PASSWORD),
            "MariaDB": (mariadb.url(OWNER, "coderag_eval"), OWNER_PASSWORD),
        }
        corpus, store = args.corpus, args.store or ("synth" if args.corpus == "heldout" else "corpus")
        if corpus == "heldout":
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from bench_adapt import corpus_file

            corpus = f"jsonl:{corpus_file(work / 'heldout')}"
        for label, (url, password) in engines.items():
            out = work / label.split()[0].lower()
            argv = [
                CODERAG,
                "eval",
                "run",
                "--corpus",
                corpus,
                "--store",
                store,
                "--store-examples",
                str(args.store_examples),
                "--generator",
                args.generator,
                "--engine-url",
                url,
                "--out",
                str(out),
                "--no-progress",
            ]
            if args.limit:
                argv += ["--limit", str(args.limit)]
            console.print(f"eval run on {label}…")
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, env={**env, "CODERAG_DB_PASSWORD": password}, timeout=3600)
            if done.returncode != 0:
                raise SystemExit(f"eval run with {label} failed: {done.stderr.strip()[-500:]}")
            metrics = json.loads((out / "metrics.json").read_text())
            rows.append(
                {
                    "engine": label,
                    "wall_s": round(time.perf_counter() - started, 1),
                    "engine_s": metrics["config"]["phases_s"]["engine"],
                    **metrics["engine"],
                }
            )
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = Table(
        title=f"eval run --engine-url ({args.corpus}, --store {store}, {args.generator}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)"
    )
    for column in (
        "engine",
        "databases",
        "scored",
        "EX RAG there",
        "EX RAG SQLite",
        "carried over",
        "EX no-RAG there",
        "EX no-RAG SQLite",
        "gold failed",
        "engine pass (s)",
    ):
        table.add_column(column, justify="left" if column == "engine" else "right")
    pct = lambda v: "–" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    for r in rows:
        table.add_row(
            r["engine"],
            str(r["databases"]),
            str(r["scored"]),
            pct(r["ex"]["rag"]),
            pct(r["ex_sqlite"]["rag"]),
            pct(r["carried_over"]["rag"]),
            pct(r["ex"].get("no_rag")),
            pct(r["ex_sqlite"].get("no_rag")),
            str(r["gold_failed"]),
            f"{r['engine_s']:.1f}",
        )
    console.print(table)
    for r in rows:
        if r["errors"]:
            console.print(f"{r['engine']} errors: {r['errors']}", highlight=False, soft_wrap=True)
    console.print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
