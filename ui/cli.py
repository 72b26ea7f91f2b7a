"""`coderag ui`: the Gradio chat, added to the `coderag` CLI by `register(app)`."""

from __future__ import annotations

import ipaddress
import os
import signal
from typing import Annotated, Optional

import typer
from rich.console import Console

from rag.options import (
    DbOption,
    EmbedderOption,
    GeneratorOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    settings_from_flags,
)

err = Console(stderr=True)


def ui(
    host: Annotated[Optional[str], typer.Option("--host", help="Interface to bind (default 127.0.0.1: this machine only).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535, help="Port (default 7860).")] = None,
    db: DbOption = None,
    share: Annotated[bool, typer.Option("--share", help="Also open a public gradio.live link (off by default).")] = False,
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    embedder: EmbedderOption = None,
) -> None:
    """Start the chat UI: ask questions, see and edit the SQL, save good answers as examples."""
    from ui.app import build_app, launch
    from ui.service import UIService
    from ui.sources import named_database

    settings = settings_from_flags(
        generator=generator,
        llm_model_path=llm_model_path,
        openai_base_url=openai_base_url,
        embedder=embedder,
        ui={"host": host, "port": port},
    )
    named_database(db or settings.default_db, settings.home)  # a bad --db fails before any model loads
    if not _is_loopback(settings.ui.host) and settings.ui.username is None:
        err.print(f"[yellow]warning:[/] listening on {settings.ui.host} without a login; set CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD")
    err.print("loading the encoder, the index and the generator…")
    with UIService.create(settings, default_db=db) as service:
        if service.notice:
            err.print(f"[yellow]note:[/] {service.notice}")
        # Gradio's own upload cache goes inside the private 0700 directory too (removed on exit).
        os.environ.setdefault("GRADIO_TEMP_DIR", str(service.private.path / "gradio"))
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server like Ctrl-C: uploads are removed
        launch(build_app(service), service, share=share)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
