"""`coderag ui`: the Gradio chat, added to the `coderag` CLI by `register(app)`."""

from __future__ import annotations

import ipaddress
import os
import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True)


def ui(
    host: Optional[str] = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1: this machine only)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Port (default 7860)."),
    db: Optional[str] = typer.Option(None, "--db", help="Database to start with: a demo name or a SQLite file path."),
    share: bool = typer.Option(False, "--share", help="Also open a public gradio.live link (off by default)."),
    generator: Optional[str] = typer.Option(None, "--generator", help="auto | llm | openai | knn"),
    llm_model_path: Optional[Path] = typer.Option(None, "--llm-model-path", help="GGUF file for llama.cpp."),
    openai_base_url: Optional[str] = typer.Option(None, "--openai-base-url", help="OpenAI-compatible server URL."),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder: bundled, a model directory, or a hub id."),
) -> None:
    """Start the chat UI: ask questions, see and edit the SQL, save good answers as examples."""
    from rag.settings import load_settings
    from ui.app import build_app, launch
    from ui.service import UIService
    from ui.sources import named_database

    settings = load_settings(
        generator=generator,
        llm={"model_path": llm_model_path},
        openai={"base_url": openai_base_url},
        embedder={"model": embedder},
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
