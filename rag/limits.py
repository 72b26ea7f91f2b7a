"""What one read-only query may use and what it gives back, on every engine: its `Limits`, the
time left of its one limit (`time_left`), and its `QueryResult`.

SQLite's worker (rag.sandbox), DuckDB's (rag.duckfile) and the server engines (rag.engines) all
count a query's time the same way: from `started` (taken before parsing, so one limit covers
parse + run + fetch) or from now, and a query with no time left is a timeout before it starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import SQLError

if TYPE_CHECKING:
    from rag.settings import ExecutionSettings

MB = 2**20


def time_left(limit: float, started: float | None, sql: str) -> tuple[float, float]:
    """(now, the seconds left of `limit` counted from `started` or from now), both from
    `time.monotonic()`; none left is the timeout SQLError every engine raises.

    >>> 4.9 < time_left(5.0, None, "SELECT 1")[1] <= 5.0
    True
    """
    began = time.monotonic()
    remaining = (began if started is None else started) + limit - began
    if remaining <= 0:
        raise SQLError(f"query stopped after the {limit:g} s time limit", kind="timeout", sql=sql)
    return began, remaining


@dataclass(frozen=True)
class Limits:
    """What one query may use (settings `execution.max_memory_mb`, `max_value_mb`, `max_result_mb`,
    `max_sql_chars`). The worker's address space is capped at `address_space_bytes`."""

    memory_mb: int = 256  # SQLite's heap in the worker (hard_heap_limit): sorts, temp tables, values
    value_mb: int = 8  # one string or blob (SQLITE_LIMIT_LENGTH)
    result_mb: int = 32  # rows returned, as encoded JSON
    sql_chars: int = 50_000  # one statement's text

    @classmethod
    def of(cls, execution: ExecutionSettings) -> Limits:
        """The limits in an `ExecutionSettings`."""
        return cls(execution.max_memory_mb, execution.max_value_mb, execution.max_result_mb, execution.max_sql_chars)

    @property
    def address_space_bytes(self) -> int:
        """The worker's own footprint, SQLite's heap, a row copied out of it, the result encoded twice."""
        return (64 + 2 * self.memory_mb + 4 * self.result_mb + 6 * self.value_mb) * MB

    @property
    def duckdb_address_space_bytes(self) -> int:
        """DuckDB's worker: about 800 MB of address space once DuckDB has started its threads
        (reserved, mostly never touched), its buffer memory, and the result as SQLite's above."""
        return (896 + 2 * self.memory_mb + 4 * self.result_mb + 6 * self.value_mb) * MB

    @property
    def max_answer_bytes(self) -> int:
        """The largest answer the worker may send: the rows (it stops before the row that would go
        over `result_mb`) and the framing."""
        return (self.result_mb + 1) * MB

    def for_sqlite(self) -> dict[str, int]:
        return {"value_bytes": self.value_mb * MB, "sql_bytes": 4 * self.sql_chars + 4096}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_ms: float = 0.0
    notice: str | None = None  # something about the values the reader should know (text that was not valid UTF-8)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows], "truncated": self.truncated}
