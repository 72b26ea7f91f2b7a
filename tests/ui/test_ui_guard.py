"""The UI server against a hostile client (ui.guard, issue 27): forged Host names (DNS rebinding),
huge bodies, changes without the login or the token, log flooding, login guessing, and heavy SQL
holding other users' lanes. Raw HTTP against the real `coderag ui` process where it matters."""

from __future__ import annotations

import io
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.ui_process import UIProcess, ui_process

from ui.guard import BoundedLines, LoginThrottle, host_name

TOKEN = "test-token-0123456789abcdef"
EVIL = '<img src="http://attacker.example/x.png"> ![y](http://attacker.example/y.png)'


# -- small parts ------------------------------------------------------------------------------


def test_host_names_are_parsed_strictly() -> None:
    assert host_name("127.0.0.1:7860") == ("127.0.0.1", 7860)
    assert host_name("LocalHost") == ("localhost", None)
    assert host_name("[::1]:80") == ("[::1]", 80)
    for bad in ("", "[::1", "[::1]x", "a:b", "a:"):
        assert host_name(bad) is None, bad


def test_fifty_wrong_logins_in_a_row_are_refused_after_a_few() -> None:
    throttle, now = LoginThrottle(free=5), 1000.0
    allowed = [throttle.wait_s("1.2.3.4", now + i * 0.01) == 0 for i in range(50)]
    assert sum(allowed) == 6 and all(allowed[:6])  # 5 free tries, then 1 s, 2 s, 4 s … between tries
    assert throttle.wait_s("5.6.7.8", now) == 0  # another client is not slowed
    assert throttle.wait_s("1.2.3.4", now + 1.2) == 0 and throttle.wait_s("1.2.3.4", now + 1.3) > 1.5  # the wait doubles
    throttle.succeeded("1.2.3.4")
    assert throttle.wait_s("1.2.3.4", now + 1.3) == 0


def test_log_lines_are_cut() -> None:
    out = io.StringIO()
    stream = BoundedLines(out, max_chars=20)  # type: ignore[arg-type]
    stream.write("short\n" + "x" * 1000 + "\nnext ")
    stream.write("y" * 50)
    stream.write(" z\n")
    lines = out.getvalue().splitlines()
    assert lines[0] == "short" and lines[1] == "x" * 20 + " … [line cut]"
    assert lines[2] == "next " + "y" * 15 + " … [line cut]" and len(lines) == 3


def test_html_in_a_stored_question_is_escaped_in_the_answer_card() -> None:
    """Rendered as the page renders Markdown (HTML allowed): no image, no link, the text shown as typed."""
    from markdown_it import MarkdownIt

    from rag.answer import Answer
    from ui.render import adapted_line, card_head, sql_block

    class Hit:
        question, sql, score, db = EVIL, "SELECT 1", 0.4, "bookshop"

    answer = Answer(question=f"Mine {EVIL}", db="bookshop", generator="knn", k=3, error="no match", error_kind="abstain")
    answer.retrieved = [Hit()]  # type: ignore[list-item]
    html = MarkdownIt("commonmark", {"html": True}).render(
        card_head(answer) + "\n\n" + adapted_line({"from_id": "`<img src=x>`", "edits": ["a`<img src=y>`"]})
    )
    assert "<img" not in html and "<a " not in html, html
    assert "&lt;img src=&quot;http://attacker.example/x.png&quot;&gt;" in html  # shown as text
    fenced = MarkdownIt("commonmark", {"html": True}).render(sql_block("SELECT '```\n<img src=http://attacker.example/z.png>'"))
    assert "<img" not in fenced


# -- the real `coderag ui` process, no login ---------------------------------------------------


@pytest.fixture(scope="module")
def served(default_index, coderag_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIProcess]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CODERAG_HOME": str(coderag_home),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "CODERAG_UI__TOKEN": TOKEN,
        "CODERAG_UI__MAX_REQUEST_MB": "2",
        "TMPDIR": str(tmp_path_factory.mktemp("ui_guard_tmp")),
    }
    env.pop("GRADIO_TEMP_DIR", None)
    with ui_process([], env, port) as process:
        yield process


def _port(process: UIProcess) -> int:
    return int(process.url.rstrip("/").rsplit(":", 1)[1])


def raw(port: int, head: str, body: bytes = b"", *, stream_bytes: int = 0, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a fresh connection: `head` (request line and headers), then `body`,
    then up to `stream_bytes` more in 1 MB chunks while the server still reads; (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        chunk = b"a" * 2**20
        sent = 0
        try:
            while sent < stream_bytes:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server answered and closed: it read no further
            pass
        data = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
                if b"\r\n\r\n" in data:
                    head_part, _, rest = data.partition(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length: *(\d+)", head_part)
                    if length and len(rest) >= int(length.group(1)):
                        break
        except OSError:
            pass
    head_part, _, rest = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def rss_mb(process: UIProcess) -> float:
    for line in Path(f"/proc/{process.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_forged_host_gets_a_4xx_before_any_route(served: UIProcess) -> None:
    port = _port(served)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert raw(port, f"GET / HTTP/1.1\nHost: {host}\nConnection: close")[0] == 200, host
    for host in (f"attacker.example:{port}", "attacker.example", f"localhost:{port + 1}", f"127.0.0.1.attacker.example:{port}", ""):
        status, _, body = raw(port, f"GET /gradio_api/info HTTP/1.1\nHost: {host}\nOrigin: http://{host}\nConnection: close")
        assert status == 403 and b"Host" in body, (host, status)
    rebinding = raw(
        port,
        f"POST /gradio_api/call/run_sql HTTP/1.1\nHost: attacker.example:{port}\nOrigin: http://attacker.example:{port}\n"
        "Content-Type: application/json\nContent-Length: 2\nConnection: close",
        b"{}",
    )
    assert rebinding[0] == 403


@pytest.mark.slow
def test_huge_bodies_are_refused_before_they_are_read(served: UIProcess) -> None:
    """200 MB announced, or streamed without a length: 413, and the server's memory does not grow."""
    port = _port(served)
    before = rss_mb(served)
    for path in ("/gradio_api/queue/join", "/gradio_api/call/ask", "/gradio_api/upload"):
        started = time.monotonic()
        status, _, _ = raw(
            port,
            f"POST {path} HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\nContent-Length: {200 * 2**20}",
            stream_bytes=200 * 2**20,
        )
        assert status == 413 and time.monotonic() - started < 20, (path, status)
    status, _, _ = raw(
        port,
        f"POST /gradio_api/queue/join HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\nTransfer-Encoding: chunked",
        b"".join(b"%x\r\n%s\r\n" % (2**20, b"a" * 2**20) for _ in range(4)),
    )
    assert status == 413
    assert rss_mb(served) - before < 60


@pytest.mark.slow
def test_changes_need_the_token_and_set_llm_tells_no_paths(served: UIProcess, tmp_path: Path) -> None:
    from gradio_client import Client

    port = _port(served)
    anyone = Client(served.url, verbose=False)
    status, _ = anyone.predict("OpenAI-compatible URL", "http://attacker.example/v1", api_name="/set_llm")
    assert "needs the login" in status and "token" in status
    refused = anyone.predict("Anyone's question?", "SELECT 1", "", "all", api_name="/add_example")
    assert "needs the login" in str(refused)

    owner = Client(served.url, verbose=False, headers={"X-Coderag-Token": TOKEN})
    added = owner.predict("How many books are there, owner?", "SELECT count(*) FROM books", "", "all", api_name="/add_example")
    assert "✓ Added" in str(added) and "How many books are there, owner?" in str(added), added
    unreadable = tmp_path / "secret.gguf"
    unreadable.write_bytes(b"GGUF not really")
    answers = {
        owner.predict("GGUF file", str(p), api_name="/set_llm")[0].replace(str(p), "PATH")
        for p in (tmp_path / "missing.gguf", unreadable, tmp_path)
    }
    assert len(answers) == 1 and "no GGUF file at PATH" in answers.pop()

    wrong = raw(port, f"GET /?token=nope HTTP/1.1\nHost: 127.0.0.1:{port}\nConnection: close")
    assert wrong[0] == 403
    status, headers, _ = raw(port, f"GET /?token={TOKEN} HTTP/1.1\nHost: 127.0.0.1:{port}\nConnection: close")
    assert (
        status == 303 and headers["location"] == "/" and "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    )
    cookie = headers["set-cookie"].split(";")[0]
    browser = Client(served.url, verbose=False, headers={"Cookie": cookie})  # a browser that opened the link sends the cookie
    added = browser.predict("How many books are there, browser?", "SELECT count(*) FROM books", "", "all", api_name="/add_example")
    assert "✓ Added" in str(added), added


@pytest.mark.slow
def test_rejected_values_are_not_written_whole_into_the_log(served: UIProcess) -> None:
    from gradio_client import Client

    client = Client(served.url, verbose=False)
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 — gradio_client's error type varies by version; the database picker refuses a name it does not offer
            client.predict("Z" * 1_500_000, [], api_name="/pick_database")
    assert client.predict("How many books are in the catalog?", [], True, 3, api_name="/ask")[2].startswith("SELECT")
    served.proc.terminate()
    output, _ = served.proc.communicate(timeout=60)
    served.output = output
    assert "Z" * 5_000 not in output and max(len(line) for line in output.splitlines()) <= 2_100
    assert f"?token={TOKEN}" in output  # the link was printed at start


# -- in this process: a login, and the lanes ---------------------------------------------------


@pytest.fixture
def logged_in_app(service, port: int) -> Iterator[str]:
    from pydantic import SecretStr

    from ui.app import build_app, launch

    service.settings.ui.username, service.settings.ui.password = "ana", SecretStr("s3cret")
    demo = build_app(service)
    url = launch(demo, service, port=port, block=False, quiet=True)
    try:
        yield url
    finally:
        demo.close()


def test_with_a_login_bodies_wait_for_it_and_guesses_are_throttled(logged_in_app: str, port: int) -> None:
    status, _, _ = raw(
        port,
        f"POST /gradio_api/queue/join HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\nContent-Length: {8 * 2**20}",
        stream_bytes=8 * 2**20,
    )
    assert status == 401  # the login first, before the (allowed-size) body is read

    def login(password: str) -> int:
        form = f"username=ana&password={password}".encode()
        head = f"POST /login HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/x-www-form-urlencoded\nContent-Length: {len(form)}\nConnection: close"
        return raw(port, head, form)[0]

    statuses = [login("wrong") for _ in range(50)]
    assert statuses.count(400) <= 6 and statuses.count(429) >= 44, statuses
    assert login("s3cret") == 429  # this address waits, even with the password


def test_a_database_switch_does_not_wait_behind_heavy_sql(service, port: int) -> None:
    """Many /run_sql calls that each run to the time limit hold the SQL lane only: another user's
    database switch and examples list are answered at once."""
    from gradio_client import Client

    from ui.app import build_app, launch

    service.settings.execution.timeout_s = 2.0
    demo = build_app(service)
    url = launch(demo, service, port=port, block=False, quiet=True)
    try:
        heavy = Client(url, verbose=False)
        forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
        jobs = [heavy.submit(forever, [], api_name="/run_sql") for _ in range(8)]
        time.sleep(1.0)
        other = Client(url, verbose=False)
        started = time.monotonic()
        chat, status, *_ = other.predict("clinic", [], api_name="/pick_database")
        assert "`clinic`" in status and time.monotonic() - started < 3.0
        for job in jobs:
            assert "timed out" in str(job.result(timeout=60)[0][-1]["content"]).lower() or "⚠️" in str(
                job.result(timeout=60)[0][-1]["content"]
            )
    finally:
        demo.close()
