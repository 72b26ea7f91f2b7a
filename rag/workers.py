"""The worker processes that run SQL on a user's database, and their pool.

SQLite's (`rag/sqlworker.py`) and DuckDB's (`rag/duckworker.py`) workers read one JSON request a
line on stdin and answer one line on stdout, under an address-space cap. A worker that has not
answered `seconds` + `GRACE_S` after a request, or sends more than `Limits.max_answer_bytes`, is
killed, and the next request gets a fresh one; idle workers are kept for the next query.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rag.errors import DatabaseError
from rag.limits import MB, Limits

WORKER_SCRIPT = Path(__file__).resolve().with_name("sqlworker.py")
DUCK_WORKER_SCRIPT = Path(__file__).resolve().with_name("duckworker.py")
GRACE_S = 0.25  # the worker's own progress handler may answer this long after the limit before it is killed
_IDLE_WORKERS = 4


class _Overrun(Exception):
    """The worker did not answer in time, or sent more than it may: it has been killed."""


class _Worker:
    """One worker process (`sqlworker.py`, or `duckworker.py`) and its pipes."""

    def __init__(self, key: tuple[str, ...]) -> None:
        self.key = key
        try:
            self.process = subprocess.Popen(
                [sys.executable, *key],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise DatabaseError(f"cannot start the SQL worker process: {exc.strerror or exc}") from None
        self._pending = bytearray()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: dict[str, Any], deadline: float, max_bytes: int) -> dict[str, Any]:
        """Send one request and wait for its answer until `deadline` (time.monotonic)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request).encode("utf-8", "surrogatepass") + b"\n")
            self.process.stdin.flush()
        except OSError:
            self.kill()
            raise _Overrun("died") from None
        fd = self.process.stdout.fileno()
        searched = 0
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (end := self._pending.find(b"\n", searched)) < 0:
                searched = len(self._pending)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise _Overrun("timeout")
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self.kill()
                    raise _Overrun("died")
                self._pending += chunk
                if len(self._pending) > max_bytes:
                    self.kill()
                    raise _Overrun("too_large")
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return json.loads(line.decode("utf-8", "surrogatepass"), object_hook=_decode_blob)

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


def _worker_command(limits: Limits, engine: str) -> tuple[str, ...]:
    """The worker's command line after the interpreter: SQLite's needs the standard library only
    (`-S`: no site-packages, it starts in ~30 ms); DuckDB's imports duckdb from site-packages."""
    if engine == "duckdb":
        return ("-I", str(DUCK_WORKER_SCRIPT), str(limits.duckdb_address_space_bytes))
    return ("-I", "-S", str(WORKER_SCRIPT), str(limits.address_space_bytes), str(limits.memory_mb * MB))


def run_in_worker(limits: Limits, request: dict[str, Any], seconds: float, engine: str) -> dict[str, Any]:
    """One request to a worker process, killed if it has not answered `seconds` + `GRACE_S` from now
    or sends more than `limits.max_answer_bytes`: then the answer is `{"ok": False, "kind": ...}`
    too (timeout, or too_large when it went over a limit or died at its memory cap)."""
    try:
        return _POOL.call(limits, request, time.monotonic() + seconds + GRACE_S, engine)
    except _Overrun as overrun:
        if str(overrun) == "timeout":
            return {"ok": False, "kind": "timeout", "message": "killed at the time limit"}
        if str(overrun) == "too_large":
            return {"ok": False, "kind": "too_large", "message": "the answer is over the result limit"}
        return {"ok": False, "kind": "too_large", "message": f"the {engine} worker stopped, most likely at its memory limit"}


def _decode_blob(obj: dict[str, Any]) -> Any:
    return base64.b64decode(obj["b"]) if obj.keys() == {"b"} else obj


class _Pool:
    """Idle workers kept for the next query; a busy one serves one request at a time."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def call(self, limits: Limits, request: dict[str, Any], deadline: float, engine: str = "sqlite") -> dict[str, Any]:
        """One request to an idle worker for `engine` (sqlite or duckdb) under `limits`, else a new one."""
        key = _worker_command(limits, engine)
        with self._lock:
            dead = [w for w in self._idle if not w.alive]
            self._idle = [w for w in self._idle if w not in dead]
            worker = next((w for w in self._idle if w.key == key), None)
            if worker is not None:
                self._idle.remove(worker)
        for gone in dead:
            gone.kill()  # reap it and close its pipes
        worker = worker or _Worker(key)
        try:
            answer = worker.call(request, deadline, limits.max_answer_bytes)
        except BaseException:
            worker.kill()
            raise
        with self._lock:
            self._idle.append(worker)
            surplus, self._idle = self._idle[:-_IDLE_WORKERS], self._idle[-_IDLE_WORKERS:]
        for extra in surplus:
            extra.kill()
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOL = _Pool()
atexit.register(_POOL.close)
