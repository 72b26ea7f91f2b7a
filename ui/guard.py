"""Who may reach the UI server, with how much, and who may change what it shares.

    RequestGuard     ASGI middleware in front of every Gradio route: answers only the `Host`
                     names it serves (DNS rebinding: a loopback server answers 127.0.0.1,
                     localhost and [::1] unless `ui.allowed_hosts` names more), refuses a body
                     over its cap before reading it (Content-Length, then counted as it
                     streams), with a login refuses a body without a session before reading it,
                     and throttles logins per client (a few tries, then a doubling wait)
    ChangeGuard      changing the language model or the shared example store needs the login,
                     or, without one, the token `coderag ui` prints at start (a browser opens
                     the printed link once, which sets an HttpOnly SameSite=Strict cookie; an
                     API client sends the `X-Coderag-Token` header)
    bounded_output   the server's stdout and stderr cut every line at a length, so a rejected
                     value quoted in a traceback is never written whole into the log

The handlers run as plain functions, so the caller of the request being handled is a context
variable (`serving`): UIService's checks consult it, and a call that does not come through the
HTTP server (a test, a script in this process) is the owner's own.
"""

from __future__ import annotations

import io
import ipaddress
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException

from rag.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TOKEN_COOKIE = "coderag-token"
TOKEN_HEADER = "x-coderag-token"
TOKEN_QUERY = "token"
UPLOAD_PATH = "/gradio_api/upload"
LOGIN_PATHS = ("/login", "/login/")
LOGIN_BODY_BYTES = 64 * 1024
LOGIN_WAIT_MAX_S = 300.0
MAX_LINE_CHARS = 2_000


def host_name(value: str) -> tuple[str, int | None] | None:
    """A `Host` header's name (lowercase; an IPv6 address in brackets) and port; None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        name, _, port = value.partition(":")
        port = port if ":" in value else None
    if not name or port is not None and not port.isdigit():
        return None
    return name, int(port) if port else None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address to listen on) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class LoginThrottle:
    """Per client: `free` wrong logins in a row, then each try waits 1 s, 2 s, 4 s … (at most
    LOGIN_WAIT_MAX_S) after the last one; a right login clears the count. A try is counted when it
    starts, so parallel guesses are refused as well as sequential ones."""

    free: int = 5
    _clients: dict[str, tuple[int, float]] = field(default_factory=dict)  # client -> (tries counted, next try allowed at)

    def wait_s(self, client: str, now: float) -> float:
        """0 when `client` may try now (the try is counted), else the seconds to wait."""
        tries, allowed_at = self._clients.get(client, (0, 0.0))
        if now < allowed_at:
            return allowed_at - now
        tries += 1
        delay = 0.0 if tries <= self.free else min(2.0 ** (tries - self.free - 1), LOGIN_WAIT_MAX_S)
        self._clients[client] = (tries, now + delay)
        if len(self._clients) > 10_000:  # forget the oldest clients rather than grow without bound
            for old in list(self._clients)[:1_000]:
                del self._clients[old]
        return 0.0

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


class _TooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its cap: FastAPI lets an HTTPException
    through its body parsing, so the client gets the 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit:,} bytes")


class RequestGuard:
    """The checks every request passes before a Gradio route sees it (see the module docstring).

    `port` is the server's port (a `Host` may name it or no port); `allowed_hosts` None answers
    any name (a server beyond loopback, or a share link, where the login protects it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: tuple[str, ...] | None,
        port: int,
        max_body_bytes: int,
        max_upload_bytes: int,
        login: bool,
        throttle: LoginThrottle | None = None,
        token: str | None = None,
    ) -> None:
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else {h.strip().lower() for h in allowed_hosts}
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.login = login
        self.throttle = throttle or LoginThrottle()
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not self._host_allowed(headers.get("host")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _respond(send, 403, "this server does not answer to that Host name (set ui.allowed_hosts to add one)")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if (
            method == "GET"
            and path == "/"
            and self.token is not None
            and TOKEN_QUERY in parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ):
            await self._take_token(scope, send, path)
            return
        has_body = method not in ("GET", "HEAD", "OPTIONS") or "content-length" in headers or "transfer-encoding" in headers
        if not has_body:
            await self.app(scope, receive, send)
            return
        is_login = path in LOGIN_PATHS
        limit = LOGIN_BODY_BYTES if is_login else self.max_upload_bytes if path.rstrip("/") == UPLOAD_PATH else self.max_body_bytes
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > limit:
            await _respond(send, 413, f"request body over the limit of {limit:,} bytes")
            return
        if self.login and not is_login and not _logged_in(scope, headers):
            await _respond(send, 401, "log in first")  # before the body is read
            return
        client = (scope.get("client") or ("?", 0))[0]
        if is_login:
            wait = self.throttle.wait_s(client, time.monotonic())
            if wait > 0:
                await _respond(send, 429, f"too many logins from this address: try again in {wait:.0f} s", retry_after=wait)
                return

        def clear_tries(status: int) -> None:  # a login answered below 400 clears the client's failed tries
            if status < 400:
                self.throttle.succeeded(client)

        await self._forward(scope, receive, send, limit, on_status=clear_tries if is_login else None)

    def _host_allowed(self, host: str | None) -> bool:
        if self.allowed_hosts is None:
            return True
        parsed = host_name(host or "")
        return parsed is not None and parsed[0] in self.allowed_hosts and parsed[1] in (None, self.port)

    async def _take_token(self, scope: Scope, send: Send, path: str) -> None:
        """`/?token=…` from the printed link: a right token becomes a cookie, then the page again
        without the token in its address; a wrong one is refused."""
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(TOKEN_QUERY, [""])[0]
        if not same_secret(given, self.token):
            await _respond(send, 403, "wrong token: open the link `coderag ui` printed at start")
            return
        cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", (path or "/").encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _forward(self, scope: Scope, receive: Receive, send: Send, limit: int, on_status: Callable[[int], Any] | None) -> None:
        """Pass the request on, counting its body as it streams: past `limit`, 413 (or, if the
        answer has started already, the request ends there)."""
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if on_status is not None:
                    on_status(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if not started:
                await _respond(send, 413, f"request body over the limit of {limit:,} bytes")


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lowercase name; a repeated Host is dropped (never trusted)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        if name == "host" and name in out:
            out[name] = ""
            continue
        out[name] = raw_value.decode("latin-1")
    return out


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header: no cookies
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _logged_in(scope: Scope, headers: dict[str, str]) -> bool:
    """Whether the request carries a session of Gradio's login (its cookies, checked against the app's tokens)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if tokens is None or cookie_id is None:
        return False
    cookies = _cookies(headers)
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return token is not None and token in tokens


async def _respond(send: Send, status: int, text: str, retry_after: float | None = None) -> None:
    body = (text + "\n").encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def same_secret(given: str | None, expected: str | None) -> bool:
    return bool(given) and expected is not None and secrets.compare_digest(given.encode(), expected.encode())  # type: ignore[union-attr]


# -- who may change the shared things ---------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The sender of the request being handled: may it change the model and the shared store?"""

    may_change: bool


_caller: ContextVar[Caller | None] = ContextVar("coderag_ui_caller", default=None)


@dataclass(frozen=True)
class ChangeGuard:
    """Decides `Caller.may_change` for a request: logged in (with a login), or holding the token."""

    login: bool
    token: str | None

    def caller(self, request: Any) -> Caller:
        if request is None:
            return Caller(may_change=False)
        if self.login:
            return Caller(may_change=getattr(request, "username", None) is not None)
        try:
            cookies, headers = dict(getattr(request, "cookies", {}) or {}), dict(getattr(request, "headers", {}) or {})
        except (TypeError, ValueError):
            return Caller(may_change=False)
        headers = {str(k).lower(): v for k, v in headers.items()}
        given = headers.get(TOKEN_HEADER) or cookies.get(TOKEN_COOKIE)
        return Caller(may_change=same_secret(given if isinstance(given, str) else None, self.token))

    @contextmanager
    def serving(self, request: Any) -> Iterator[Caller]:
        """Handle `request` as its sender: UIService's checks see the caller while the block runs."""
        caller = self.caller(request)
        reset = _caller.set(caller)
        try:
            yield caller
        finally:
            _caller.reset(reset)


NOBODY = ChangeGuard(login=False, token=None)  # until `launch` sets the server's own


def check_caller(what: str) -> None:
    """Refuse `what` for a request whose sender has neither the login nor the token."""
    caller = _caller.get()
    if caller is not None and not caller.may_change:
        raise ConfigError(
            f"{what} needs the login, or on this machine the link with the token that `coderag ui` printed at start",
            hint="open that link once in this browser (API clients send the X-Coderag-Token header)",
        )


def new_token() -> str:
    return secrets.token_urlsafe(24)


# -- bounded log lines ---------------------------------------------------------------------


class BoundedLines(io.TextIOBase):
    """A text stream that passes lines through cut at `max_chars` (the rest of a long line is
    dropped and marked once), so no value quoted in a message can fill the disk."""

    def __init__(self, stream: TextIO, max_chars: int = MAX_LINE_CHARS) -> None:
        self.stream = stream
        self.max_chars = max_chars
        self._column = 0  # characters of the current line so far (written or dropped)
        self._cut = False  # the current line was cut (and marked)

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            body = piece.rstrip("\r\n")
            room = max(0, self.max_chars - self._column)
            out.append(body[:room])
            if len(body) > room and not self._cut:
                out.append(" … [line cut]")
                self._cut = True
            self._column += len(body)
            if len(body) < len(piece):  # the line ends here
                out.append(piece[len(body) :])
                self._column, self._cut = 0, False
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


def bound_output(max_chars: int = MAX_LINE_CHARS) -> None:
    """Cut every line this process writes to stdout and stderr at `max_chars` (the UI server's log)."""
    if not isinstance(sys.stdout, BoundedLines):
        sys.stdout = BoundedLines(sys.stdout, max_chars)
    if not isinstance(sys.stderr, BoundedLines):
        sys.stderr = BoundedLines(sys.stderr, max_chars)
