"""PostgreSQL, read-only and time-limited by the server itself.

The session is `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`; each query runs in its own
`BEGIN READ ONLY` transaction with `statement_timeout`, `lock_timeout` and
`idle_in_transaction_session_timeout` set local to it, through a server-side cursor
(`DECLARE … CURSOR`, which takes nothing but a query), and the transaction is always rolled back,
so not even a `set_config` survives it. A watchdog cancels the backend if the server has not
stopped by the limit plus `GRACE_S`. PostgreSQL stops at a row over the result budget before
sending it (`_rows_within`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.limits import MB, Limits
from rag.servererrors import ROW_OVER_LIMIT
from rag.servers import CONNECT_TIMEOUT_S, GRACE_S, Rows, ServerDatabase
from rag.sqltools import split_statements
from rag.urls import DatabaseURL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# The README's read-only role recipe ("Databases by URL"), quoted in the refusal of a privileged role.
PG_RECIPE = (
    "CREATE ROLE coderag_reader LOGIN PASSWORD '…'; GRANT CONNECT ON DATABASE {db} TO coderag_reader; "
    "GRANT USAGE ON SCHEMA public TO coderag_reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO coderag_reader; "
    "ALTER ROLE coderag_reader SET temp_file_limit = '1GB'"
)
# What makes a PostgreSQL role privileged, as one comma-separated line ('' for a read-only role).
_PG_PRIVILEGES = """
SELECT concat_ws(', ',
  CASE WHEN r.rolsuper THEN 'is a superuser' END,
  CASE WHEN r.rolcreaterole THEN 'may create roles' END,
  CASE WHEN r.rolcreatedb THEN 'may create databases' END,
  CASE WHEN r.rolreplication THEN 'may replicate' END,
  CASE WHEN r.rolbypassrls THEN 'bypasses row security' END,
  CASE WHEN has_database_privilege(current_database(), 'CREATE') THEN 'may create schemas' END,
  (SELECT 'is a member of ' || string_agg(m.rolname, ' and ') FROM pg_roles m
    WHERE m.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program', 'pg_signal_backend', 'pg_write_all_data')
      AND pg_has_role(current_user, m.oid, 'USAGE')),
  (SELECT 'may write to ' || min(format('%I.%I', n.nspname, c.relname)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') HAVING count(*) > 0)
), r.rolsuper FROM pg_roles r WHERE r.rolname = current_user
"""


@dataclass
class PostgresDatabase(ServerDatabase):
    """A PostgreSQL database opened read-only (see the module's docstring)."""

    RECIPE = PG_RECIPE
    _sets_temp_files: bool = field(default=False, repr=False)  # the role may set temp_file_limit

    @staticmethod
    def _create_engine(url: DatabaseURL, password: str | None, timeout_s: float, limits: Limits) -> Engine:
        """A small pool of connections, each set read-only when it connects."""
        from sqlalchemy import create_engine, event

        target = url.url.set(password=password) if password is not None else url.url
        args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "coderag"}
        engine = create_engine(target, connect_args=args, pool_size=2, max_overflow=2, pool_pre_ping=True, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.autocommit = False
            dbapi_connection.read_only = True  # psycopg opens every transaction with BEGIN READ ONLY

        return engine

    def _privilege_words(self, cursor: Any) -> str:
        cursor.execute(_PG_PRIVILEGES)
        found, superuser = cursor.fetchone()
        self._sets_temp_files = bool(superuser) or self._may_set("temp_file_limit", cursor)
        return str(found or "")

    @staticmethod
    def _may_set(parameter: str, cursor: Any) -> bool:
        """PostgreSQL 15+: whether the role was granted SET on a superuser-only parameter."""
        try:
            cursor.execute("SELECT has_parameter_privilege(%s, 'SET')", (parameter,))
            return bool(cursor.fetchone()[0])
        except Exception:
            cursor.connection.rollback()
            return False

    def _run_on(self, raw: Any, sql: str, remaining: float, cap: int, began: float) -> Rows:
        conn = raw.driver_connection  # psycopg.Connection: not autocommit, read_only (BEGIN READ ONLY)
        ms = max(1, int(remaining * 1000))
        watchdog = threading.Timer(remaining + GRACE_S, conn.cancel)
        watchdog.daemon = True
        temp_files = ", set_config('temp_file_limit', %(temp)s, true)" if self._sets_temp_files else ""
        try:
            conn.rollback()
            conn.execute(
                "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true),"
                " set_config('idle_in_transaction_session_timeout', %(idle)s, true), set_config('work_mem', %(mem)s, true)" + temp_files,
                {
                    "ms": str(ms),
                    "idle": str(ms + int(GRACE_S * 2000)),
                    "mem": f"{max(1, self.limits.memory_mb // 4)}MB",
                    "temp": f"{_temp_file_mb(self.limits)}MB",
                },
            )
            watchdog.start()
            with conn.cursor(name="coderag_query") as cursor:  # a server-side cursor: DECLARE takes only a query
                cursor.execute(_rows_within(sql, self.limits.result_mb * MB))
                columns = [d.name for d in cursor.description or []]
                rows, truncated = self._fetch(cursor, cap, began, remaining)
        finally:
            watchdog.cancel()
            conn.rollback()
        return columns, rows, truncated


def _temp_file_mb(limits: Limits) -> int:
    """PostgreSQL's temp_file_limit for one query, where the role may set it: sorts and hashes that
    spill past work_mem stop there instead of filling the server's disk."""
    return max(64, 4 * limits.memory_mb)


def _rows_within(sql: str, max_bytes: int) -> str:
    """The query wrapped so that PostgreSQL itself stops at a row over `max_bytes` (an error naming
    `ROW_OVER_LIMIT`) before sending it: the client never holds such a row.

    A row's stored size (`pg_column_size`) is cheap; its text (what is sent) can be larger where
    values stay compressed (at most ~256× with LZ4), so rows over 1/256 of the limit are measured
    as text too. The cast of a non-constant text to integer is the one error plain SQL can raise on
    demand; the subquery keeps the query's own order, its `OFFSET 0` keeps PostgreSQL from pulling
    it up and computing each value once per reference, and the newline ends a trailing `--` comment.
    """
    statements = split_statements(sql)
    body = statements[0] if len(statements) == 1 else sql
    limit = int(max_bytes)
    return (
        f"SELECT _coderag_row.* FROM (SELECT * FROM (\n{body}\n) AS _coderag_query OFFSET 0) AS _coderag_row, LATERAL (SELECT pg_column_size(_coderag_row) AS n) AS _coderag_size "
        f"WHERE CASE WHEN _coderag_size.n > {limit} OR (_coderag_size.n > {limit // 256} AND octet_length(_coderag_row::text) > {limit}) "
        f"THEN CAST(_coderag_size.n::text || ' {ROW_OVER_LIMIT}' AS integer) = 0 ELSE true END"
    )
