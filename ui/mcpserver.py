"""`coderag mcp`: coderag as a Model Context Protocol server (the official `mcp` SDK's FastMCP), for
desktop assistants, editors and agents.

    coderag mcp                      # stdio: the client starts it (README "MCP server")
    coderag mcp --http --port 8765   # streamable HTTP on http://127.0.0.1:8765/mcp

Tools: `list_databases`, `describe_database`, `ask`, `run_sql`, `teach_example`. They are thin calls
into the Python API (rag.api), with its limits: a question at most `max_question_chars`, SQL read-only
within `execution.timeout_s` and `execution.max_rows`. Only databases known by name (the demo ones and
those registered with `coderag db add`) can be named: a client cannot point the server at a file path
or URL of its choice. Every failure is an MCP tool error whose text is the one-line message.

Over HTTP the server binds loopback unless told otherwise; with the UI's login set
(CODERAG_UI__USERNAME / CODERAG_UI__PASSWORD) every request needs it as HTTP Basic auth, and a
non-loopback address without a login is refused. `teach_example` writes an example store, so over
HTTP it needs the login (the example is attributed to it); over stdio the client is the local user.
"""

from __future__ import annotations

import base64
import getpass
import hmac
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from rag.answer import Question
from rag.api import Coderag, Connection
from rag.corpus import demo_names
from rag.errors import CodeRagError, ConfigError, DatabaseError
from rag.registry import Registry
from rag.settings import Settings

DEFAULT_PORT = 8765
ANSWER_ROWS = 100  # rows an `ask` or `run_sql` returns by default (a client may ask for up to execution.max_rows)
WORKERS = 4  # tool calls that run at once; the rest wait in line
LOOPBACK = ("127.0.0.1", "localhost", "::1")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class BusyError(CodeRagError):
    """More tool calls are waiting than the server queues."""


class CoderagTools:
    """What the MCP tools do, as plain synchronous methods over one `Coderag` (the models load once)."""

    def __init__(self, coderag: Coderag, *, can_teach: bool, author: str) -> None:
        self.coderag = coderag
        self.settings = coderag.settings
        self.can_teach = can_teach
        self.author = author
        self._waiting = 0
        self._lock = threading.Lock()

    def database(self, name: str | None) -> Connection:
        """A demo or registered database by name; anything else (a path, a URL) is refused."""
        name = (name or self.settings.default_db or "").strip()
        known = [*demo_names(), *(r.name for r in Registry(self.settings.home).all())]
        if name not in known:
            shown = name if len(name) <= 80 else name[:79] + "…"
            raise DatabaseError(
                f"unknown database '{shown}' (known: {', '.join(known)})",
                hint="the MCP server opens only demo and registered databases: register a file with `coderag db add PATH --name NAME`",
            )
        return self.coderag.open(name)

    def list_databases(self) -> list[dict[str, Any]]:
        return [{"name": d.name, "kind": d.kind, "tables": d.tables, "examples": d.examples} for d in self.coderag.databases()]

    def describe_database(self, database: str | None) -> dict[str, Any]:
        described = self.database(database).describe()
        return {
            "name": described.name,
            "dialect": described.dialect,
            "tables": [
                {"name": t.name, "columns": [{"name": c.name, "type": c.type, "primary_key": c.primary_key} for c in t.columns],
                 "foreign_keys": [{"columns": f.columns, "references": f"{f.references_table}({', '.join(f.references_columns)})"} for f in t.foreign_keys]}
                for t in described.tables
            ],
            "examples": described.examples,
        }  # fmt: skip

    def ask(self, question: str, database: str | None, max_rows: int | None) -> dict[str, Any]:
        Question.parse(question, self.settings.max_question_chars)  # before anything is opened or loaded
        result = self.database(database).ask(question)
        result.raise_for_error()  # no usable SQL, or knn abstained: the one-line reason is the MCP error
        rows, truncated = _capped(result.rows, result.truncated, self._row_cap(max_rows))
        return {
            "database": result.db,
            "sql": result.sql,
            "columns": result.columns,
            "rows": rows,
            "truncated": truncated,
            "generator": result.generator,
            "confidence": result.confidence,
            "examples": [{"question": e.question, "sql": e.sql, "score": e.score} for e in result.examples],
            "linked": _json_safe(result.link) if result.link else None,  # what the question named in the database, and why
            "notice": result.notice,
        }

    def run_sql(self, sql: str, database: str | None, max_rows: int | None) -> dict[str, Any]:
        result = self.database(database).sql(sql, max_rows=self._row_cap(max_rows))
        return {"columns": result.columns, "rows": _json_safe(result.rows), "truncated": result.truncated}

    def teach_example(self, question: str, sql: str, database: str | None) -> dict[str, Any]:
        if not self.can_teach:
            raise ConfigError(
                "teaching over HTTP needs a login", hint="start `coderag mcp --http` with CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD set"
            )
        taught = self.database(database).teach(question, sql, author=self.author)
        return {"id": taught.id, "database": taught.db, "question": taught.question, "sql": taught.sql, "new": taught.new}

    def _row_cap(self, max_rows: int | None) -> int:
        cap = ANSWER_ROWS if max_rows is None else int(max_rows)
        return max(1, min(cap, self.settings.execution.max_rows))

    def enter_queue(self) -> None:
        with self._lock:
            if self._waiting >= self.settings.ui.max_queue:
                raise BusyError(f"the server is busy ({self._waiting} calls waiting); try again shortly")
            self._waiting += 1

    def leave_queue(self) -> None:
        with self._lock:
            self._waiting -= 1


def _capped(rows: list[list[Any]], truncated: bool, cap: int) -> tuple[list[list[Any]], bool]:
    return _json_safe(rows[:cap]), truncated or len(rows) > cap


def _json_safe(rows: Any) -> Any:
    """Rows (or any JSON-like value) as JSON values (dates, decimals and bytes become text)."""
    return json.loads(json.dumps(rows, default=str))


def build_server(tools: CoderagTools, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Any:
    """The FastMCP server with coderag's five tools; each runs in a worker thread (at most WORKERS at once)."""
    import anyio
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError

    server = FastMCP(
        "coderag",
        instructions=(
            "Answer questions about SQL databases: list_databases, describe_database (tables, columns, keys), "
            "ask (an English question → SQL and rows, read-only), run_sql (one read-only query), teach_example."
        ),
        host=host,
        port=port,
        log_level="WARNING",
    )
    limiter = anyio.CapacityLimiter(WORKERS)

    async def call(function: Callable[..., Any], *args: Any) -> Any:
        try:
            tools.enter_queue()
            try:
                return await anyio.to_thread.run_sync(lambda: function(*args), limiter=limiter)
            finally:
                tools.leave_queue()
        except CodeRagError as exc:
            raise ToolError(" ".join(str(exc).split())) from None

    @server.tool()
    async def list_databases() -> list[dict[str, Any]]:
        """The databases you can ask: the demo ones and those registered with `coderag db add`."""
        return await call(tools.list_databases)

    @server.tool()
    async def describe_database(database: str | None = None) -> dict[str, Any]:
        """A database's tables, columns (with types), primary and foreign keys, and how many stored examples it has."""
        return await call(tools.describe_database, database)

    @server.tool()
    async def ask(question: str, database: str | None = None, max_rows: int | None = None) -> dict[str, Any]:
        """Answer a question in English about a database: the SQL written for it (from the closest stored
        examples), its rows (read-only; at most max_rows, default 100), the examples used and a confidence."""
        return await call(tools.ask, question, database, max_rows)

    @server.tool()
    async def run_sql(sql: str, database: str | None = None, max_rows: int | None = None) -> dict[str, Any]:
        """Run one read-only SQL query (SELECT; writes are refused) within the server's time limit and row cap."""
        return await call(tools.run_sql, sql, database, max_rows)

    @server.tool()
    async def teach_example(question: str, sql: str, database: str | None = None) -> dict[str, Any]:
        """Teach the database a question → SQL example (the SQL must be read-only and run); later questions
        like it are answered from it. Over HTTP this needs the server's login."""
        return await call(tools.teach_example, question, sql, database)

    return server


def basic_auth(app: ASGIApp, username: str, password: str) -> ASGIApp:
    """Every HTTP request must carry `Authorization: Basic` with this login (compared in constant time)."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    async def guarded(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode("latin-1"), expected.encode("latin-1")):
                body = b'{"error": "this coderag MCP server needs its login (HTTP Basic auth)"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b'Basic realm="coderag"'), (b"content-length", str(len(body)).encode()),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def check_http_host(host: str, login: tuple[str, str] | None) -> None:
    """A server others can reach must have a login."""
    if host not in LOOPBACK and login is None:
        raise ConfigError(
            f"refusing to serve MCP on {host} without a login",
            hint="set CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD, or keep the default host 127.0.0.1",
        )


def serve(
    settings: Settings, *, http: bool = False, host: str = "127.0.0.1", port: int = DEFAULT_PORT, ready: Callable[[str], None] | None = None
) -> None:
    """Run the MCP server until the client hangs up (stdio) or it is interrupted (HTTP)."""
    login = settings.ui.login()
    if http:
        check_http_host(host, login)
    author = login[0] if (http and login) else f"{getpass.getuser()} (mcp stdio)"
    with Coderag(settings) as coderag:
        tools = CoderagTools(coderag, can_teach=not http or login is not None, author=author)
        server = build_server(tools, host=host, port=port)
        if not http:
            server.run(transport="stdio")
            return
        import uvicorn

        app = server.streamable_http_app()
        if login is not None:
            app = basic_auth(app, *login)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        if ready is not None:
            ready(f"http://{host}:{port}{server.settings.streamable_http_path}")
        uvicorn.Server(config).run()
