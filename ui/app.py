"""Launching the Gradio app: `launch(build_app(service), service)` serves it behind ui.guard,
on loopback and without a share link unless asked, and refuses to listen beyond this machine
without a login (`check_exposure`). The layout is ui.layout; its handlers are ui.handlers and
ui.examples_tab, and the answer card's rendering is ui.render.
"""

from __future__ import annotations

import sys

import gradio as gr
from starlette.middleware import Middleware

from rag.errors import ConfigError
from rag.settings import UISettings
from ui.guard import LOOPBACK_NAMES, ChangeGuard, LoginThrottle, RequestGuard, is_loopback, new_token
from ui.layout import CSS, build_app
from ui.service import UIService

__all__ = ["build_app", "check_exposure", "is_loopback", "launch"]


def check_exposure(ui: UISettings, host: str, *, share: bool, insecure: bool) -> tuple[str, str] | None:
    """The login to require. Half a login or a blank one refuses to start; so does listening beyond
    this machine (another interface, or a public share link) without a login, unless `insecure`."""
    login = ui.login()
    if login is None and not insecure and (share or not is_loopback(host)):
        where = "a public share link" if share else f"{host}"
        raise ConfigError(
            f"refusing to serve on {where} without a login",
            hint="set CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD, or pass --insecure to serve it open anyway",
        )
    return login


def saves_are_shared(ui: UISettings, login: tuple[str, str] | None) -> bool:
    """Whether "save as example" writes the shared store: behind a login (attributed to the user) or
    with `ui.allow_shared_save`; otherwise a save lasts for its browser session."""
    return login is not None or ui.allow_shared_save


def launch(
    demo: gr.Blocks,
    service: UIService,
    *,
    host: str | None = None,
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    insecure: bool = False,
) -> str:
    """Start the server (loopback and no share link unless asked; see `check_exposure`); returns the local URL.

    Every request passes ui.guard's RequestGuard first (Host names, body caps, the login before
    the body, login throttling). Without a login, changing the model or the shared examples needs
    the token: its link is printed (to stderr) unless `quiet`."""
    ui = service.settings.ui
    bind, port = host or ui.host, port or ui.port
    auth = check_exposure(ui, bind, share=share, insecure=insecure)
    service.shared_saves = saves_are_shared(ui, auth)
    token = None if auth is not None else ui.token.get_secret_value() if ui.token is not None else new_token()
    service.guard = ChangeGuard(login=auth is not None, token=token)
    checked_hosts = is_loopback(bind) and not share or bool(ui.allowed_hosts)
    guard = Middleware(
        RequestGuard,
        allowed_hosts=(*LOOPBACK_NAMES, *ui.allowed_hosts) if checked_hosts else None,
        port=port,
        max_body_bytes=ui.max_request_mb * 2**20,
        max_upload_bytes=(ui.max_upload_mb + 1) * 2**20,  # the file and its multipart framing
        login=auth is not None,
        throttle=LoginThrottle(free=ui.login_tries),
        token=token,
    )
    try:
        _, local_url, _ = demo.launch(
            server_name=bind,
            server_port=port,
            share=share,
            auth=auth,
            max_file_size=f"{ui.max_upload_mb}mb",
            max_threads=max(8, ui.concurrency_limit * 4),
            prevent_thread_lock=True,
            quiet=quiet,
            show_error=False,
            enable_monitoring=False,
            ssr_mode=False,
            css=CSS,
            mcp_server=False,
            app_kwargs={"middleware": [guard]},
        )
    except OSError as exc:
        raise ConfigError(f"cannot start the UI server on {bind}:{port}: {str(exc).splitlines()[0]}") from None
    if token is not None and not quiet:
        print(
            f"To change the language model or the shared examples, open this link once (keep it private): {local_url}?token={token}",
            file=sys.stderr,
            flush=True,
        )
    if block:
        demo.block_thread()
    return local_url
