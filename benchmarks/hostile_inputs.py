"""Hostile inputs: attempts / handled / failures per category (the table in README "Safety").

    HF_HUB_OFFLINE=1 python benchmarks/hostile_inputs.py                 # this tree
    HF_HUB_OFFLINE=1 python benchmarks/hostile_inputs.py --code-root DIR  # another checkout (e.g. `git archive` of an older commit)

Every input of tests/fixtures/hostile.jsonl goes through the channels it names: `coderag sql`,
`coderag ask` (answered by a hostile OpenAI-compatible server on loopback, tests/fixtures/hostile_llm.py),
the UI's handlers (run SQL, ask), and the command line's usage and settings. Each channel runs in
a runner process that loads the models once; this harness times every attempt, samples the memory
of the runner and everything it started, and kills and restarts a runner that overruns.

An attempt is handled when it ends within the time limit + 1 s of a `SELECT 1` baseline, the
memory of the runner's process tree grows by at most --memory-bound-mb, nothing was written (the
database's hash and no file from ATTACH/VACUUM INTO), no traceback escaped, an error is one line
(`error: …` on stderr, or one chat message) and the outcome is the expected one (writes refused).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.hostile_corpus import (  # noqa: E402
    CORPUS,
    SIDE_FILE,
    cli_problems,
    digest,
    expand,
    ui_problems,
)

QUESTION = "How many books are there?"
CHANNELS = ("sql", "ask", "ui", "cli")


# -- the runner: one process per channel, models loaded once ---------------------------------------


class Runner:
    def __init__(self, channel: str, db: Path, scratch: Path) -> None:
        from fixtures.hostile_llm import HostileLLM

        self.channel, self.db, self.scratch = channel, db, scratch
        self.llm = HostileLLM()
        if channel in ("ask", "ui"):
            self._share_encoder()
        if channel == "ui":
            self._build_ui()
        if channel == "ask":
            self._cli({"sql": "SELECT 1"})  # load the embedder and the index before the clock starts

    def _share_encoder(self) -> None:
        import rag.encoders

        load, cache = rag.encoders.load_encoder, {}

        def shared(name: str = "bundled", **options: Any) -> Any:
            key = (name, json.dumps(options, sort_keys=True, default=str))
            if key not in cache:
                cache[key] = load(name, **options)
            return cache[key]

        rag.encoders.load_encoder = shared

    def _build_ui(self) -> None:
        from rag.chain import TextToSQL
        from rag.generators import make_generator
        from rag.settings import load_settings
        from ui.service import UIService
        from ui.session import Session

        settings = load_settings()
        generator, _ = make_generator("openai", settings, base_url=self.llm.url)
        self.service = UIService(
            TextToSQL.from_settings(settings, generator=generator, show_progress=False), index_dir=None, default_db=str(self.db)
        )
        self.session = Session(db=self.service.default_db)

    def run(self, entry: dict[str, Any]) -> dict[str, Any]:
        SIDE_FILE.unlink(missing_ok=True)
        before = digest(self.db)
        result: dict[str, Any] = {"exception": None}
        try:
            if self.channel == "ui":
                result.update(self._ui(entry))
            else:
                result.update(self._cli(entry))
        except BaseException:  # noqa: BLE001 - whatever escapes is what this measures
            result["exception"] = traceback.format_exc()[-3000:]
        result["wrote"] = digest(self.db) != before or SIDE_FILE.exists()
        return result

    def _cli(self, entry: dict[str, Any]) -> dict[str, Any]:
        from ui.cli import main

        if self.channel == "sql":
            argv = ["sql", "--db", str(self.db), expand(entry["sql"])]
        elif self.channel == "ask":
            self.llm.behaviour = entry.get("llm") or expand(entry["sql"])
            argv = ["ask", QUESTION, "--db", str(self.db), "--generator", "openai", "--openai-base-url", self.llm.url]
        else:
            argv = [self._fill(a) for a in entry["argv"]]
        env = {k: self._fill(v) for k, v in (entry.get("env") or {}).items()}
        if entry.get("config"):
            config = self.scratch / "config.yaml"
            config.write_text(entry["config"])
            env["CODERAG_CONFIG"] = str(config)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        out, err = io.StringIO(), io.StringIO()
        code: Any = 0
        old_argv = sys.argv
        sys.argv = ["coderag", *argv]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.argv = old_argv
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        return {"exit": code if isinstance(code, int) else 1, "stdout": out.getvalue()[:100_000], "stderr": err.getvalue()[:100_000]}

    def _ui(self, entry: dict[str, Any]) -> dict[str, Any]:
        from ui.handlers import on_ask, on_run_sql

        if entry.get("llm") is None and "sql" in entry:
            history = on_run_sql(self.service, expand(entry["sql"]), [], self.session).history
        else:
            self.llm.behaviour = entry["llm"]
            history = []
            for outputs in on_ask(self.service, QUESTION, [], True, 3, self.session):
                history = outputs.history
        return {"message": str(history[-1]["content"]) if history else ""}

    def _fill(self, text: str) -> str:
        if "{fifo}" in text and not (self.scratch / "fifo").exists():
            os.mkfifo(self.scratch / "fifo")
        (self.scratch / "a-file").touch()
        return (
            text.replace("{db}", str(self.db)).replace("{file}", str(self.scratch / "a-file")).replace("{fifo}", str(self.scratch / "fifo"))
        )


def runner_main(channel: str, db: Path, scratch: Path) -> None:
    runner = Runner(channel, db, scratch)
    sys.__stdout__.write(json.dumps({"ready": True}) + "\n")
    sys.__stdout__.flush()
    for line in sys.stdin:
        sys.__stdout__.write(json.dumps(runner.run(json.loads(line))) + "\n")
        sys.__stdout__.flush()


# -- the harness -------------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB. A child that still runs its parent's
    command line is between fork and exec and shares the parent's pages: it is not counted twice."""
    total, pending = 0, [(pid, b"")]
    while pending:
        current, parent_command = pending.pop()
        try:
            command = Path(f"/proc/{current}/cmdline").read_bytes()
            if command != parent_command:
                total += int(Path(f"/proc/{current}/status").read_text().split("VmRSS:")[1].split()[0])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [(int(c), command) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


class Harness:
    def __init__(self, args: argparse.Namespace, home: Path, db: Path, scratch: Path) -> None:
        self.args, self.home, self.db, self.scratch = args, home, db, scratch
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODERAG_")}
        env.update(
            CODERAG_HOME=str(self.home),
            HF_HUB_OFFLINE="1",
            PYTHONPATH=str(self.args.code_root),
            CODERAG_EXECUTION__TIMEOUT_S=str(self.args.sql_timeout),
            CODERAG_OPENAI__TIMEOUT_S=str(self.args.llm_timeout),
            CODERAG_UI__TORCH_THREADS="1",
        )
        return env

    def runner(self, channel: str) -> subprocess.Popen:
        proc = self.procs.get(channel)
        if proc is not None and proc.poll() is None:
            return proc
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--runner", channel, "--db", str(self.db), "--scratch", str(self.scratch)],
            cwd=self.args.code_root,
            env=self.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"the {channel} runner did not start")
        self.procs[channel] = proc
        return proc

    def attempt(self, channel: str, entry: dict[str, Any]) -> tuple[dict[str, Any] | None, float, float]:
        """(observations or None when killed, seconds, memory growth in MB)."""
        proc = self.runner(channel)
        base = tree_rss_mb(proc.pid)
        peak, started = base, time.monotonic()
        proc.stdin.write(json.dumps(entry) + "\n")
        proc.stdin.flush()
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], 0.01)
            peak = max(peak, tree_rss_mb(proc.pid))
            elapsed = time.monotonic() - started
            if ready:
                line = proc.stdout.readline()
                return (json.loads(line) if line else None), elapsed, peak - base
            if elapsed > self.args.hard_cap:
                proc.kill()
                proc.wait()
                return None, elapsed, peak - base

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()


def judge(
    entry: dict[str, Any], channel: str, seen: dict[str, Any] | None, seconds: float, growth: float, limit: float, args: argparse.Namespace
) -> list[str]:
    """The reasons an attempt was mishandled (none: handled)."""
    if seen is None:
        return [f"killed after {seconds:.0f} s"]
    reasons = []
    if seconds > limit:
        reasons.append(f"slow ({seconds:.1f} s)")
    if growth > args.memory_bound_mb:
        reasons.append(f"memory (+{growth:.0f} MB)")
    if seen["wrote"]:
        reasons.append("wrote")
    if seen["exception"]:
        return [*reasons, "traceback"]
    if channel == "ui":
        return reasons + ui_problems(entry, seen["message"])
    return reasons + cli_problems(entry, seen["exit"], seen["stdout"], seen["stderr"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--sql-timeout", type=float, default=2.0)
    parser.add_argument("--llm-timeout", type=float, default=3.0)
    parser.add_argument("--hard-cap", type=float, default=30.0, help="seconds before an attempt is killed")
    parser.add_argument("--memory-bound-mb", type=float, default=512.0, help="tree growth allowed per attempt")
    parser.add_argument("--only", default=None, help="comma-separated categories")
    parser.add_argument("--json", type=Path, default=None, help="write every attempt here")
    parser.add_argument("--runner", choices=CHANNELS, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner:
        runner_main(args.runner, args.db, args.scratch)
        return
    entries = list(CORPUS)
    if args.only:
        entries = [e for e in entries if e["category"] in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="coderag-hostile-") as tmp:
        home, scratch = Path(tmp) / "home", Path(tmp) / "scratch"
        scratch.mkdir()
        db = scratch / "bookshop.sqlite"
        _prepare(args, home, db)
        harness = Harness(args, home, db, scratch)
        try:
            baselines = {}
            for channel, probe in (
                ("sql", {"sql": "SELECT 1"}),
                ("ask", {"sql": "SELECT 1"}),
                ("ui", {"sql": "SELECT 1"}),
                ("cli", {"argv": ["sql", "--db", "{db}", "SELECT 1"]}),
            ):
                times = [harness.attempt(channel, {"expect": "answer", **probe})[1] for _ in range(3)]
                baselines[channel] = statistics.median(times)
            print("baselines (s):", {k: round(v, 2) for k, v in baselines.items()}, file=sys.stderr)
            rows, results = defaultdict(Counter), []
            for entry in entries:
                for channel in entry["channels"]:
                    seen, seconds, growth = harness.attempt(channel, entry)
                    limit = baselines[channel] + (args.llm_timeout if entry.get("llm") in ("hang", "drip") else args.sql_timeout) + 1
                    reasons = judge(entry, channel, seen, seconds, growth, limit, args)
                    rows[entry["category"]]["attempts"] += 1
                    rows[entry["category"]]["handled" if not reasons else "failures"] += 1
                    results.append(
                        {
                            "id": entry["id"],
                            "channel": channel,
                            "seconds": round(seconds, 2),
                            "growth_mb": round(growth, 1),
                            "reasons": reasons,
                        }
                    )
                    print(
                        f"{entry['category']:>20} {entry['id']:<28} {channel:<4} {seconds:6.2f} s {growth:7.1f} MB  {'; '.join(reasons) or 'ok'}",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            harness.close()
    if args.json:
        args.json.write_text(json.dumps({"baselines": baselines, "results": results}, indent=1))
    print("| category | attempts | handled | failures |\n|---|---:|---:|---:|")
    for category, counts in rows.items():
        print(f"| {category} | {counts['attempts']} | {counts['handled']} | {counts['failures']} |")
    total = sum((c for c in rows.values()), Counter())
    print(f"| **all** | **{total['attempts']}** | **{total['handled']}** | **{total['failures']}** |")


def _prepare(args: argparse.Namespace, home: Path, db: Path) -> None:
    """The demo databases and the default index, built once (not timed)."""
    env = Harness(args, home, db, db.parent).env()
    subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", QUESTION, "--generator", "knn"],
        cwd=args.code_root,
        env=env,
        capture_output=True,
        timeout=900,
    )
    demo = next((home / "demo").glob("bookshop*.sqlite"))
    shutil.copyfile(demo, db)


if __name__ == "__main__":
    main()
