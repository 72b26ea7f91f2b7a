"""`coderag ask` on every engine: the demo databases on SQLite, DuckDB, PostgreSQL and MariaDB.

    .venv/bin/python benchmarks/bench_engines.py [--runs 3]

PostgreSQL and MariaDB are started here as the tests start them (tests/fixtures/servers.py:
Debian's packages, a private loopback port, a temporary directory, stopped at the end); DuckDB is
a temporary file. Each server gets both demo databases with `coderag db load-demo` (their
hand-written examples transpiled by sqlglot and kept where they run there), then is asked as the
read-only role:

- cold: a fresh `coderag ask --db URL` process, as a user runs it (median of --runs);
- warm: one `TextToSQL` service answering every demo question in turn (median and p95 per question);
- carries over: the share of the demos' hand-written examples whose SQL, transpiled, runs on the
  engine and returns SQLite's rows (`rag.execution.results_match`, row order where the SQL sorts).

The generator is knn (no LLM), so the numbers are retrieval + transpiling + the engine's own
execution. The machine's load average is printed with them, since these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
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
QUESTION = "How many customers are there in each country?"


def _cli(*argv: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run([CODERAG, *argv], capture_output=True, text=True, env=env, timeout=600)
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="cold processes per engine")
    args = parser.parse_args()

    from fixtures.servers import OWNER, OWNER_PASSWORD, READER, READER_PASSWORD, MariaDBServer, PostgresServer, find_mariadb, find_postgres

    console = Console()
    work = Path(tempfile.mkdtemp(prefix="coderag-bench-engines-"))
    env = {**os.environ, "CODERAG_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    servers = []
    try:
        postgres = PostgresServer(find_postgres()).start()  # type: ignore[arg-type]
        servers.append(postgres)
        postgres.create_roles()
        mariadb = MariaDBServer(find_mariadb()).start()  # type: ignore[arg-type]
        servers.append(mariadb)
        mariadb.create_roles()
        duck = f"duckdb:///{work / 'demo.duckdb'}"
        engines = {  # name → (owner URL, reader URL, owner password, reader password)
            "SQLite (demo file)": (None, "bookshop", None, None),
            "DuckDB": (duck, duck, None, None),
            "PostgreSQL 15": (postgres.url(OWNER), postgres.url(READER), OWNER_PASSWORD, READER_PASSWORD),
            "MariaDB 10.11": (mariadb.url(OWNER), mariadb.url(READER), OWNER_PASSWORD, READER_PASSWORD),
        }
        rows = []
        for label, (owner, reader, owner_pw, reader_pw) in engines.items():
            if owner is not None:
                name = "demo-" + label.split()[0].lower()
                done, load_s = _cli("db", "load-demo", owner, "--name", name, env={**env, "CODERAG_DB_PASSWORD": owner_pw or ""})
                if done.returncode != 0:
                    raise SystemExit(f"load-demo on {label} failed: {done.stderr.strip()}")
                kept = next((line for line in done.stdout.splitlines() if line.startswith("registered")), "")
            else:
                load_s, kept = 0.0, ""
            ask_env = {**env, "CODERAG_DB_PASSWORD": reader_pw or ""}
            _cli("ask", "--db", reader, "--json", QUESTION, env=ask_env)  # untimed: builds the index, warms the disk cache
            cold = []
            for _ in range(args.runs):
                done, seconds = _cli("ask", "--db", reader, "--json", QUESTION, env=ask_env)
                if done.returncode != 0:
                    raise SystemExit(f"ask on {label} failed: {done.stderr.strip()}")
                cold.append(seconds)
            warm, carried, total = _warm(reader, ask_env)
            rows.append((label, statistics.median(cold), warm, carried, total, load_s, kept))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"coderag ask per engine (knn; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)")
    for column in ("engine", "cold ask (s)", "warm ask median (ms)", "warm p95 (ms)", "carries over", "load-demo (s)"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    for label, cold_s, warm, carried, total, load_s, _ in rows:
        table.add_row(
            label,
            f"{cold_s:.2f}",
            f"{statistics.median(warm):.0f}",
            f"{_p95(warm):.0f}",
            f"{carried}/{total} ({carried / total:.0%})",
            f"{load_s:.1f}" if load_s else "-",
        )
    console.print(table)
    for label, *_, kept in rows:
        if kept:
            console.print(f"{label}: {kept}", highlight=False, soft_wrap=True)
    console.print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _warm(reader: str, env: dict[str, str]) -> tuple[list[float], int, int]:
    """Every demo question answered by one service on this engine: per-question milliseconds, and
    how many answers return the rows the example's SQL returns on SQLite."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("CODERAG_", "HF_"))})
    from rag.chain import TextToSQL
    from rag.corpus import demo_db_path, demo_names, load_demo_examples
    from rag.databases import resolve_db
    from rag.execution import has_top_level_order_by, results_match
    from rag.sandbox import QueryResult, ReadOnlyDatabase
    from rag.settings import load_settings

    settings = load_settings(generator="knn")
    millis, carried, total = [], 0, 0
    with TextToSQL.from_settings(settings, show_progress=False) as service:
        for demo in demo_names():
            ref = resolve_db(demo if reader == "bookshop" else reader, settings.home)  # SQLite: each demo file
            with ref.open(settings) as database, ReadOnlyDatabase.open(demo_db_path(demo, settings.home)) as sqlite:
                for example in load_demo_examples(demo):
                    started = time.perf_counter()
                    answer = service.ask(example.question, database, db_key=ref.key, force=True)
                    millis.append((time.perf_counter() - started) * 1000)
                    gold = sqlite.execute(example.sql)
                    total += 1
                    if answer.error is None:
                        got = QueryResult(answer.columns, [tuple(r) for r in answer.rows])
                        carried += results_match(gold, got, ordered=has_top_level_order_by(example.sql))
    return millis, carried, total


if __name__ == "__main__":
    main()
