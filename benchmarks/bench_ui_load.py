"""Load check for `coderag ui`: N concurrent users asking questions through gradio_client.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ui_load.py --users 20 --duration 60

Without --url it starts `coderag ui` on a free loopback port in a subprocess (embedded defaults:
bundled encoder, knn generator unless a GGUF is configured), waits until it serves, runs the
load, and stops it. Each user is its own gradio_client session; odd-numbered users switch to
the clinic database first. Questions are the demo databases' stored questions.

An error is a request that raised, or an answer without SQL or with an error message. Prints
requests, errors, throughput and latency percentiles. Target: zero errors.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from rag.corpus import load_demo_examples


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)


def start_server(port: int, timeout_s: float) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"coderag ui exited early:\n{proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return proc
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit(f"coderag ui did not answer within {timeout_s:.0f} s")


def user(number: int, url: str, stop_at: float, tally: Tally, questions: dict[str, list[str]]) -> None:
    from gradio_client import Client

    rng = random.Random(number)
    db = "clinic" if number % 2 else "bookshop"
    try:
        client = Client(url, verbose=False)
        if db == "clinic":
            client.predict("clinic", [], api_name="/pick_database")
    except Exception as exc:  # a user who cannot connect counts as one error
        tally.add(0.0, f"user {number} could not start: {type(exc).__name__}: {exc}")
        return
    while time.time() < stop_at:
        question = rng.choice(questions[db])
        started = time.perf_counter()
        error = None
        try:
            history, _box, sql, table, *_ = client.predict(question, [], True, 3, api_name="/ask")
            reply = history[-1]["content"][0]["text"]
            if not sql or reply.startswith("⚠️"):
                error = f"{db}: {question!r}: {reply[:120]}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        tally.add(time.perf_counter() - started, error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--url", help="a running `coderag ui` (default: start one on a free loopback port)")
    parser.add_argument("--startup-timeout", type=float, default=600.0, help="seconds to wait for the server to start")
    args = parser.parse_args()

    questions = {name: [ex.question for ex in load_demo_examples(name)] for name in ("bookshop", "clinic")}
    server = None
    url = args.url
    if url is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        print(f"starting coderag ui on 127.0.0.1:{port} …", file=sys.stderr)
        server = start_server(port, args.startup_timeout)
        url = f"http://127.0.0.1:{port}/"
    tally = Tally()
    try:
        started = time.time()
        stop_at = started + args.duration
        threads = [threading.Thread(target=user, args=(n, url, stop_at, tally, questions), daemon=True) for n in range(args.users)]
        for thread in threads:
            thread.start()
        with tqdm(total=int(args.duration), desc=f"{args.users} users", unit="s") as bar:
            while any(t.is_alive() for t in threads):
                time.sleep(1)
                bar.n = min(int(time.time() - started), int(args.duration))
                bar.set_postfix(requests=len(tally.latencies), errors=len(tally.errors))
        elapsed = time.time() - started
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    latencies = np.array(tally.latencies) * 1000
    table = Table(title=f"coderag ui load check ({url})")
    for column in ("users", "duration s", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    percentiles = np.percentile(latencies, [50, 95, 99]) if len(latencies) else [float("nan")] * 3
    table.add_row(
        str(args.users),
        f"{elapsed:.0f}",
        str(len(latencies)),
        str(len(tally.errors)),
        f"{len(latencies) / elapsed:.1f}",
        *(f"{p:,.0f}" for p in percentiles),
        f"{latencies.max():,.0f}" if len(latencies) else "nan",
    )
    console = Console(width=120)
    console.print(table)
    for error in tally.errors[:10]:
        console.print(f"[red]error:[/] {error}", highlight=False)
    sys.exit(1 if tally.errors else 0)


if __name__ == "__main__":
    main()
