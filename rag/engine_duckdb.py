"""DuckDB files, read-only: queries run in a worker process with an address-space cap.

The worker (rag/duckworker.py, through rag.workers' pool) opens the file `read_only=True` with
external access, extension loading and configuration changes disabled, a memory limit and no
temporary directory (DuckDB would spill to `<file>.tmp` beside the user's file); it interrupts the
query at the limit and is killed if it has not answered shortly after. The schema is read in this
process, through SQLAlchemy with the same read-only configuration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import DatabaseError
from rag.limits import MB, Limits, QueryResult
from rag.servererrors import query_error
from rag.servers import ServerDatabase
from rag.urls import DatabaseURL
from rag.workers import run_in_worker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass
class DuckDBDatabase(ServerDatabase):
    """A DuckDB file opened read-only (see the module's docstring). It has no roles to check."""

    @staticmethod
    def _create_engine(url: DatabaseURL, password: str | None, timeout_s: float, limits: Limits) -> Engine:
        """The file opened read-only with `duckdb_config`; a missing file is a DatabaseError."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        target = url.url.set(password=password) if password is not None else url.url
        path = url.path
        assert path is not None
        if not path.is_file():
            raise DatabaseError(f"DuckDB database not found: {path}")
        connect_args = {"read_only": True, "config": duckdb_config(limits)}
        return create_engine(target.set(database=str(path)), connect_args=connect_args, poolclass=NullPool, hide_parameters=True)

    def _privileges(self, raw: Any) -> str:
        return ""

    def _run(self, sql: str, remaining: float, cap: int, limit: float, began: float) -> QueryResult:
        """In a worker process with an address-space cap (rag/duckworker.py), killed at the limit plus rag.workers' grace."""
        path = self.url.path
        assert path is not None
        request = {
            "path": str(path), "config": duckdb_config(self.limits), "sql": sql, "timeout_s": remaining, "max_rows": cap,
            "max_bytes": self.limits.result_mb * MB,
        }  # fmt: skip
        answer = run_in_worker(self.limits, request, remaining, "duckdb")
        if not answer["ok"]:
            kind, message = answer["kind"], answer["message"]
            if kind == "database":
                raise DatabaseError(f"cannot read {self.label}: {message}")
            raise query_error(kind, message, limit=limit, sql=sql, engine="duckdb")
        rows = [tuple(row) for row in answer["rows"]]
        return QueryResult(answer["columns"], rows, answer["truncated"], elapsed_ms=(time.monotonic() - began) * 1000)


def duckdb_config(limits: Limits) -> dict[str, Any]:
    """DuckDB's read-only configuration: no outside files or URLs, no extensions, a memory limit,
    no temporary directory (it would spill to `<file>.tmp` beside the user's file), locked."""
    return {
        "enable_external_access": False, "autoload_known_extensions": False, "autoinstall_known_extensions": False,
        "allow_community_extensions": False, "memory_limit": f"{limits.memory_mb}MB", "threads": 2,
        "temp_directory": "", "lock_configuration": True,
    }  # fmt: skip
