"""MySQL and MariaDB, read-only and time-limited by the server itself.

`SET SESSION TRANSACTION READ ONLY` and `max_statement_time` (MariaDB) or `max_execution_time`
(MySQL) are set again before every query, which runs in `START TRANSACTION READ ONLY` through an
unbuffered cursor and is rolled back; a watchdog sends `KILL QUERY` from a second connection at
the limit plus `GRACE_S` (a statement can lift its own `max_statement_time`); the socket's read
timeout is later still. Each query has a session of its own, so temporary tables, variables and
locks a query leaves end with it. A cut-off query's connection is dropped rather than drained.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import SQLError
from rag.limits import Limits
from rag.servers import CONNECT_TIMEOUT_S, GRACE_S, Rows, ServerDatabase
from rag.urls import DatabaseURL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The README's read-only role recipe ("Databases by URL"), quoted in the refusal of a privileged role.
MYSQL_RECIPE = "CREATE USER 'coderag_reader'@'%' IDENTIFIED BY '…'; GRANT SELECT ON {db}.* TO 'coderag_reader'@'%'"
_MYSQL_READ_PRIVILEGES = frozenset({"USAGE", "SELECT", "SHOW VIEW", "SHOW DATABASES"})
_LIMIT_WARNINGS = {1301}  # ER_WARN_ALLOWED_PACKET_OVERFLOWED: the function returned NULL instead


def mysql_privileges(grants: list[str]) -> list[str]:
    """The privileges in `SHOW GRANTS` lines beyond reading (the GRANT OPTION counts too); role
    memberships (lines without ON) are not privileges themselves.

    >>> mysql_privileges(["GRANT USAGE ON *.* TO `r`@`%`", "GRANT SELECT (a, b), SHOW VIEW ON `shop`.* TO `r`@`%`"])
    []
    >>> mysql_privileges(["GRANT FILE ON *.* TO `r`@`%`", "GRANT SELECT ON `shop`.* TO `r`@`%` WITH GRANT OPTION"])
    ['FILE', 'GRANT OPTION']
    """
    found: list[str] = []
    for line in grants:
        match = re.match(r"\s*GRANT\s+(.+?)\s+ON\s+", line, re.IGNORECASE | re.DOTALL)
        if match is None:
            continue
        names = [" ".join(p.split()).upper() for p in re.sub(r"\([^)]*\)", "", match.group(1)).split(",")]
        found += [n for n in names if n and n not in _MYSQL_READ_PRIVILEGES and n not in found]
        if re.search(r"WITH\s+GRANT\s+OPTION", line, re.IGNORECASE) and "GRANT OPTION" not in found:
            found.append("GRANT OPTION")
    return found


@dataclass
class MySQLDatabase(ServerDatabase):
    """A MySQL or MariaDB database opened read-only (see the module's docstring)."""

    RECIPE = MYSQL_RECIPE

    @staticmethod
    def _create_engine(url: DatabaseURL, password: str | None, timeout_s: float, limits: Limits) -> Engine:
        """No pool: a session of its own per query; the socket times out after the server's limit and the watchdog."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        target = url.url.set(password=password) if password is not None else url.url
        read_timeout = int(timeout_s + 2 * GRACE_S + 2)  # after the server's limit and the watchdog's KILL QUERY
        args = {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": read_timeout, "write_timeout": read_timeout, "charset": "utf8mb4"}
        return create_engine(target, connect_args=args, poolclass=NullPool, hide_parameters=True)

    def _privilege_words(self, cursor: Any) -> str:
        cursor.execute("SHOW GRANTS")
        extra = mysql_privileges([str(row[0]) for row in cursor.fetchall()])
        return f"holds {', '.join(extra)}" if extra else ""

    def _run_on(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> Rows:
        import pymysql.cursors

        conn = raw.driver_connection
        with conn.cursor() as setup:
            setup.execute("ROLLBACK")
            setup.execute("SET SESSION TRANSACTION READ ONLY")
            if "mariadb" in self.server.lower():
                setup.execute(f"SET SESSION max_statement_time = {max(0.001, remaining):.3f}")
            else:
                setup.execute(f"SET SESSION max_execution_time = {max(1, int(remaining * 1000))}")
            setup.execute("START TRANSACTION READ ONLY")
        killed = threading.Event()
        watchdog = threading.Timer(remaining + GRACE_S, self._kill_query, args=(conn.thread_id(), killed))
        watchdog.daemon = True
        watchdog.start()
        cursor = conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stream from the server
        try:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows, truncated = self._fetch(cursor, cap, began, remaining)
        except BaseException:
            _abandon(cursor)
            raise
        finally:
            watchdog.cancel()
        if truncated:
            _abandon(cursor)
            raw.invalidate()  # the rest of an unbuffered result would have to be read to reuse it
            return columns, rows, truncated
        warnings = getattr(getattr(cursor, "_result", None), "warning_count", 0)
        cursor.close()
        # A query stopped at a limit must not pass for an answer: SLEEP() interrupted returns 1, and
        # a string function whose result would pass max_allowed_packet returns NULL with a warning.
        if killed.is_set() or time.monotonic() - began > remaining + GRACE_S:
            raise SQLError("query stopped after the time limit", kind="timeout", sql=sql)
        if warnings:
            with conn.cursor() as check:
                check.execute("SHOW WARNINGS")
                codes = {int(row[1]) for row in check.fetchall()}
            if codes & _LIMIT_WARNINGS:
                raise SQLError(
                    "a value went over the server's max_allowed_packet; MySQL returned NULL in its place", kind="too_large", sql=sql
                )
        conn.rollback()
        return columns, rows, truncated

    def _kill_query(self, thread_id: int, killed: threading.Event) -> None:
        """Stop a MySQL/MariaDB query that outlived its limit, from a second connection (users may kill their own)."""
        killed.set()
        try:
            with self._connection() as other:
                cursor = other.cursor()
                cursor.execute(f"KILL QUERY {int(thread_id)}")
                cursor.close()
        except Exception:
            pass  # the query ended meanwhile, or the server is gone: the read timeout still applies


def _abandon(cursor: Any) -> None:
    """Leave an unbuffered pymysql result unread: its connection is dropped instead, and pymysql
    would otherwise try to drain it (and fail, printing to stderr) when it is collected."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False
