"""`coderag ui`: start the Gradio chat (ui/app.py)."""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer
from rich.console import Console

from rag.options import (
    AllowPrivilegedRoleOption,
    DbOption,
    EmbedderOption,
    GeneratorOption,
    LlmModelPathOption,
    OpenAIBaseUrlOption,
    settings_from_flags,
)

err = Console(stderr=True)


def ui(
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1: this machine only).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (default 7860).")] = None,
    db: DbOption = None,
    share: Annotated[bool, typer.Option("--share", help="Also open a public gradio.live link (off by default).")] = False,
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    embedder: EmbedderOption = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Serve beyond this machine without a login (off by default).")] = False,
    allow_shared_save: Annotated[
        bool,
        typer.Option(
            "--allow-shared-save", help="Without a login, let 'save as example' write the shared store (default: the session only)."
        ),
    ] = False,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
) -> None:
    """Start the chat UI: ask questions, see and edit the SQL, save good answers as examples.

    Example: coderag ui --db clinic --port 8080"""
    from ui.app import build_app, check_exposure, is_loopback, launch
    from ui.guard import bound_output
    from ui.service import UIService
    from ui.sources import named_database

    settings = settings_from_flags(
        generator=generator,
        llm_model_path=llm_model_path,
        openai_base_url=openai_base_url,
        embedder=embedder,
        ui={"host": host, "port": port, "allow_shared_save": allow_shared_save or None},
        execution={"allow_privileged_role": allow_privileged_role or None},
    )
    login = check_exposure(settings.ui, settings.ui.host, share=share, insecure=insecure)  # before any model loads
    bound_output()  # the server's log: a rejected value quoted in a traceback is cut, never written whole
    named_database(db or settings.default_db, settings.home, allow_privileged_role=settings.execution.allow_privileged_role)
    if login is None and (share or not is_loopback(settings.ui.host)):
        err.print(f"[yellow]warning:[/] serving on {settings.ui.host} without a login (--insecure)", highlight=False)
    err.print("loading the encoder, the index and the generator…")
    with UIService.create(settings, default_db=db) as service:
        if service.notice:
            err.print(f"[yellow]note:[/] {service.notice}", highlight=False, soft_wrap=True)
        # Gradio's own upload cache goes inside the private 0700 directory too (removed on exit).
        os.environ.setdefault("GRADIO_TEMP_DIR", str(service.private.path / "gradio"))
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server like Ctrl-C: uploads are removed
        launch(build_app(service), service, share=share, insecure=insecure)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
