"""The DuckDB side of the sandbox: a child process that runs every query on a user's DuckDB file.

`rag.sandbox` starts it as `python -I duckworker.py ADDRESS_SPACE_BYTES` (the same pool and pipes
as SQLite's `sqlworker.py`), writes one JSON request per line and reads one JSON answer per line.
DuckDB runs here, not in the caller, for the same two bounds: the kernel caps this process's
address space (RLIMIT_AS), so a value DuckDB builds outside its buffer manager
(`repeat(repeat('x', 1000000), 3000)`) fails its allocation instead of growing the caller, and
the caller kills this process at the time limit plus a grace if DuckDB's own interrupt does not
stop the query.

Each query opens the file `read_only=True` with the configuration the caller sends (external access,
extension loading and configuration changes off, a memory limit, no temporary directory). Rows
come back as SQLite's kinds (int, float, str, bytes, None), capped in number and in bytes, a
batch at a time; a first row over the byte limit is an error, not an empty answer.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import os
import resource
import sys
import threading
import uuid
from typing import Any

_FETCH_BATCH = 200
_OUT_OF_MEMORY = b'{"ok":false,"kind":"too_large","message":"the query needs more memory than its limit"}'
_CLASSES = {"InterruptException": "timeout", "PermissionException": "forbidden", "OutOfMemoryException": "too_large"}
_REFUSALS = ("read-only mode", "configuration has been locked", "disabled by configuration", "disabled through configuration")


def sqlite_value(value: Any) -> Any:
    """A driver's value as SQLite would hold it: numbers, text, bytes or None (every engine by URL)."""
    if value is None or isinstance(value, (int, float, str, bytes)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, (uuid.UUID, datetime.timedelta)):
        return str(value)
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line message) of a DuckDB failure: timeout, forbidden, too_large or execution_error."""
    if isinstance(exc, MemoryError):
        return "too_large", "the query needs more memory than its limit"
    message = " ".join((str(exc).strip().splitlines() or [type(exc).__name__])[0].split())[:300]
    for klass in type(exc).__mro__:
        if klass.__name__ in _CLASSES:
            return _CLASSES[klass.__name__], message
    if any(word in message.lower() for word in _REFUSALS):
        return "forbidden", message
    return "execution_error", message


def _encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


def _value(value: Any) -> Any:
    value = sqlite_value(value)
    return {"b": base64.b64encode(value).decode("ascii")} if isinstance(value, bytes) else value


class Worker:
    """Requests in, answers out. Each query opens the file and closes it after: an idle worker
    holds no lock on it (DuckDB lets no other process write a file while a reader has it open)."""

    def handle(self, request: dict[str, Any]) -> bytes:
        import duckdb

        try:
            conn = duckdb.connect(request["path"], read_only=True, config=request["config"])
        except MemoryError:
            return _OUT_OF_MEMORY
        except Exception as exc:
            return _encode({"ok": False, "kind": "database", "message": classify(exc)[1]})
        try:
            return self.query(conn, request)
        except MemoryError:
            return _OUT_OF_MEMORY
        except Exception as exc:  # DuckDB's own errors, classified
            kind, message = classify(exc)
            return _encode({"ok": False, "kind": kind, "message": message})
        finally:
            conn.close()

    @staticmethod
    def query(conn: Any, request: dict[str, Any]) -> bytes:
        """Run one statement, interrupted at the time limit; rows up to `max_rows` and `max_bytes`."""
        max_rows, max_bytes = request["max_rows"], request["max_bytes"]
        timer = threading.Timer(request["timeout_s"], conn.interrupt)
        timer.daemon = True
        timer.start()
        cursor = conn.cursor()
        rows: list[bytes] = []
        size = largest = 0
        truncated = False
        try:
            cursor.execute(request["sql"])
            columns = [d[0] for d in cursor.description or []]
            while not truncated:
                # a batch is as many rows as the budget left holds at the largest row seen (one row first)
                want = 1 if not rows else max(1, min(_FETCH_BATCH, (max_bytes - size) // max(1, largest)))
                batch = cursor.fetchmany(min(want, max_rows + 1 - len(rows)))
                if not batch:
                    break
                for row in batch:
                    encoded = _encode([_value(v) for v in row])
                    if len(rows) >= max_rows or size + len(encoded) + 1 > max_bytes:
                        if not rows and max_rows > 0:
                            limit = max_bytes / 2**20
                            return _encode(
                                {"ok": False, "kind": "too_large", "message": f"its first row is over the {limit:g} MB result limit"}
                            )
                        truncated = True
                        break
                    size += len(encoded) + 1
                    largest = max(largest, len(encoded) + 1)
                    rows.append(encoded)
        finally:
            timer.cancel()
            cursor.close()
        head = _encode({"ok": True, "columns": columns, "truncated": truncated})
        return head[:-1] + b',"rows":[' + b",".join(rows) + b"]}"


def main(argv: list[str]) -> None:
    """Cap this process's address space, then answer requests until stdin closes."""
    address_space = int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    worker = Worker()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        try:
            answer = worker.handle(json.loads(line))
        except MemoryError:
            answer = _OUT_OF_MEMORY
        stdout.write(answer + b"\n")
        stdout.flush()
    os._exit(0)  # DuckDB's threads and connections go with the process


if __name__ == "__main__":
    main(sys.argv)
