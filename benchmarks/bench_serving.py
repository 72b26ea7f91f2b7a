"""What a user waits for: cold `coderag ask` (wall time and peak memory), `--help`, `coderag ui` until it serves.

    .venv/bin/python benchmarks/bench_serving.py [--runs 5] [--skip-ui]

Every measurement is a fresh process, as a user starts it, with the index already built (one
untimed run first builds it and warms the disk cache). `ask` runs twice over, back to back:
before (the torch backend with all-MiniLM-L6-v2 through sentence-transformers, the default
before the int8 path) and after (the defaults: the shipped int8 retriever on onnxruntime). Peak
RSS is the child's own maximum resident set (wait4). The machine's load average is printed with
the numbers, since these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CODERAG = str(Path(sys.executable).parent / "coderag")
QUESTION = "How many customers are there in each country?"
CONFIGS = {
    "before: torch, sentence-transformers, all-MiniLM-L6-v2": {"CODERAG_EMBEDDER__BACKEND": "torch", "CODERAG_EMBEDDER__MODEL": "bundled"},
    "after: shipped int8 retriever, onnxruntime (default)": {},
}
HELPS = (
    ["--help"],
    ["ask", "--help"],
    ["ui", "--help"],
    ["eval", "run", "--help"],
    ["embedder", "finetune", "--help"],
    ["synth", "--help"],
)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ui_until_served(env: dict[str, str], timeout_s: float = 180) -> tuple[float, float]:
    """(seconds until `coderag ui` answers its first page, peak RSS in MB), then stop it."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [CODERAG, "ui", "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - started < timeout_s:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        served = time.perf_counter() - started
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"coderag ui did not serve within {timeout_s} s")
    finally:
        process.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(process.pid, 0)
    return served, usage.ru_maxrss / 1024


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measurement")
    parser.add_argument("--home", type=Path, default=None, help="CODERAG_HOME to use (default: a fresh temporary one)")
    parser.add_argument("--skip-ui", action="store_true")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="coderag-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CODERAG_")}
    base_env.update(CODERAG_HOME=str(home), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    console = Console(width=160)
    load_before = os.getloadavg()

    ask_rows = []
    for label, extra in CONFIGS.items():
        env = {**base_env, **extra}
        argv = [CODERAG, "ask", QUESTION, "--db", "bookshop"]
        _, _, code = run_once(argv, env)  # builds the index for this encoder
        if code != 0:
            raise SystemExit(f"{label}: coderag ask exited {code}")
        walls, peaks = [], []
        for _ in range(args.runs):  # alternating would mix caches; each config runs its rounds back to back
            wall, peak, _ = run_once(argv, env)
            walls.append(wall)
            peaks.append(peak)
        ask_rows.append((label, walls, peaks))

    help_rows = []
    for argv in HELPS:
        walls = [run_once([CODERAG, *argv], base_env)[0] for _ in range(args.runs)]
        help_rows.append((" ".join(["coderag", *argv]), walls))

    ui_row = None
    if not args.skip_ui:
        ui_until_served(base_env)  # untimed: the first start also writes the UI's caches
        runs = [ui_until_served(base_env) for _ in range(max(1, args.runs // 2))]
        ui_row = ([s for s, _ in runs], [m for _, m in runs])

    load_after = os.getloadavg()
    console.print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.runs} runs each (median, min, max)"
    )
    table = Table(title=f'cold `coderag ask "{QUESTION}" --db bookshop` (index already built)')
    for column in ("encoder", "wall s", "peak RSS MB"):
        table.add_column(column)
    for label, walls, peaks in ask_rows:
        table.add_row(label, summary(walls), summary(peaks))
    console.print(table)
    table = Table(title="help")
    for column in ("command", "wall s"):
        table.add_column(column)
    for label, walls in help_rows:
        table.add_row(label, summary(walls))
    console.print(table)
    if ui_row:
        console.print(f"`coderag ui` until the first page is served: {summary(ui_row[0])} s, peak RSS {summary(ui_row[1])} MB")


if __name__ == "__main__":
    main()
