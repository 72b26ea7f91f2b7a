"""The interfaces: the Gradio chat over the text-to-SQL chain (`coderag ui`), the command line and the MCP server.

    app.py      launch(demo, service): serve the app behind ui.guard (login, token, limits);
                build_app(service) -> gr.Blocks is ui.layout's
    layout.py   the Blocks layout and its event wiring
    handlers.py the Ask tab's event handlers as plain functions (ask, run SQL, save, teach,
                switch databases, the language-model panel)
    examples_tab.py  the Examples tab's handlers (list, search, edit, delete, add)
    render.py   the answer card, its tables, the chat's messages and the chart updates
    session.py  per-browser-session state and a follow-up question's earlier turns
    downloads.py  a result as a CSV download
    guard.py    the request guard (hosts, body caps, login throttling) and the change token
    charts.py   which chart (bar, line, scatter or none) suits a result, from its column types
    service.py  UIService: the chain, encoder, index and generator, loaded once and shared;
                the examples of a database (the same store as `coderag db teach / show`)
    sources.py  the database picker's sources: demo, --db file, upload, pasted schema
                ("save as example" writes to the database's store in rag.registry, shared with the CLI)
    cli.py      the `coderag` command: assembles every package's commands (its own in commands/)
    mcpserver.py  `coderag mcp`: the MCP server over the Python API

Importing `ui` stays light (the CLI imports ui.cli at start); gradio loads with ui.app.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UIService", "build_app"]


def __getattr__(name: str) -> Any:
    if name == "build_app":
        from ui.app import build_app

        return build_app
    if name == "UIService":
        from ui.service import UIService

        return UIService
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
