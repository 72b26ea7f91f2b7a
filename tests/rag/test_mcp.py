"""`coderag mcp` as an MCP client sees it: the real server process, driven by the official SDK's own
client over stdio and over streamable HTTP, on the demo database."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"list_databases", "describe_database", "ask", "run_sql", "teach_example"}
LOGIN = ("owner", "mcp-secret-3")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home of its own: the tests teach examples."""
    return tmp_path_factory.mktemp("mcp_home")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODERAG_")}
    env.update(CODERAG_HOME=str(home), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra)
    return env


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def _stdio_session(home: Path, body: Any) -> Any:
    params = StdioServerParameters(command=sys.executable, args=["-m", "ui.cli", "mcp"], env=_env(home), cwd=str(ROOT))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)


@pytest.mark.slow  # the server process loads the shipped retriever and the index to answer
def test_stdio_tools_answer_and_refuse(home: Path) -> None:
    async def body(session: ClientSession) -> None:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert names == TOOLS

        listed = await session.call_tool("list_databases", {})
        assert not listed.isError and "bookshop" in _text(listed)

        described = await session.call_tool("describe_database", {"database": "bookshop"})
        tables = {t["name"]: t for t in described.structuredContent["tables"]}
        assert "customers" in tables and any(c["primary_key"] for c in tables["books"]["columns"])
        assert tables["books"]["foreign_keys"]

        answer = await session.call_tool("ask", {"question": "How many customers are there?", "database": "bookshop"})
        assert not answer.isError, _text(answer)
        assert answer.structuredContent["rows"] == [[60]]
        assert "customers" in answer.structuredContent["sql"].lower() and answer.structuredContent["examples"]
        assert answer.structuredContent["linked"]["named_tables"] == ["customers"]  # what the question was linked to

        write = await session.call_tool("run_sql", {"sql": "DELETE FROM customers", "database": "bookshop"})
        assert write.isError and "read-only" in _text(write) and "\n" not in _text(write)
        still = await session.call_tool("run_sql", {"sql": "SELECT count(*) FROM customers", "database": "bookshop"})
        assert still.structuredContent["rows"] == [[60]]

        demo_file = home / "demo"
        for outside in (
            "/etc/passwd",
            str(next(demo_file.glob("*.sqlite"), demo_file)),
            "sqlite:////etc/passwd",
            "postgresql://x@127.0.0.1/db",
        ):
            refused = await session.call_tool("run_sql", {"sql": "SELECT 1", "database": outside})
            assert refused.isError and "unknown database" in _text(refused), _text(refused)

        huge = await session.call_tool("ask", {"question": "How many? " * 1_000_000, "database": "bookshop"})  # 10 MB
        assert huge.isError and "limit is 2,000" in _text(huge) and len(_text(huge)) < 600

        bad = await session.call_tool("teach_example", {"question": "Remove the books", "sql": "DROP TABLE books", "database": "bookshop"})
        assert bad.isError and "\n" not in _text(bad)
        taught = await session.call_tool(
            "teach_example",
            {
                "question": "Which customers live in Lisbon?",
                "sql": "SELECT first_name FROM customers WHERE city = 'Lisbon'",
                "database": "bookshop",
            },
        )
        assert not taught.isError and taught.structuredContent["new"] is True

        calls = [session.call_tool("run_sql", {"sql": f"SELECT {i} AS n", "database": "bookshop"}) for i in range(100)]
        results = await asyncio.gather(*calls)  # 100 calls at once: every one answered, in its own right
        assert [r.structuredContent["rows"] for r in results] == [[[i]] for i in range(100)]

    asyncio.run(_stdio_session(home, body))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(home: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """`coderag mcp --http` on a free loopback port (with the UI's login when the test is parametrized so)."""
    login = getattr(request, "param", None)
    extra = {"CODERAG_UI__USERNAME": login[0], "CODERAG_UI__PASSWORD": login[1]} if login else {}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "mcp", "--http", "--port", str(port)],
        env=_env(home, **extra),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the MCP server did not listen"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=20)


async def _http_session(url: str, body: Any, auth: tuple[str, str] | None = None) -> Any:
    import httpx

    async with httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(120.0)) as client:
        async with streamable_http_client(url, http_client=client) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)


def test_http_answers_and_teaching_needs_a_login(http_server: str) -> None:
    async def body(session: ClientSession) -> None:
        answer = await session.call_tool("ask", {"question": "How many customers are there?", "database": "bookshop"})
        assert not answer.isError, _text(answer)
        assert answer.structuredContent["rows"] == [[60]]
        too_long = await session.call_tool("ask", {"question": "x" * 100_000, "database": "bookshop"})
        assert too_long.isError and "limit is 2,000" in _text(too_long)
        teach = await session.call_tool(
            "teach_example", {"question": "How many books?", "sql": "SELECT count(*) FROM books", "database": "bookshop"}
        )
        assert teach.isError and "needs a login" in _text(teach)

    asyncio.run(_http_session(http_server, body))


@pytest.mark.parametrize("http_server", [LOGIN], indirect=True)
def test_http_login(http_server: str, home: Path) -> None:
    import httpx

    for auth in (None, ("owner", "wrong")):
        refused = httpx.post(
            http_server,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            auth=auth,
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert refused.status_code == 401

    async def body(session: ClientSession) -> None:
        taught = await session.call_tool(
            "teach_example",
            {"question": "Which books cost more than 30?", "sql": "SELECT title FROM books WHERE price > 30", "database": "bookshop"},
        )
        assert not taught.isError, _text(taught)

    asyncio.run(_http_session(http_server, body, auth=LOGIN))
    stored = (home / "stores" / "bookshop.jsonl").read_text()
    assert "Which books cost more than 30?" in stored and '"author": "owner"' in stored


def test_http_refuses_an_open_address_without_a_login(coderag: Any) -> None:
    result = coderag("mcp", "--http", "--host", "0.0.0.0")
    assert result.returncode == 2 and "without a login" in result.stderr and len(result.stderr.strip().splitlines()) == 1
