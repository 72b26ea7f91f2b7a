"""`coderag mcp`: serve coderag to MCP clients (the server itself is ui/mcpserver.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from rag.options import EmbedderOption, GeneratorOption, LlmModelPathOption, OpenAIBaseUrlOption, settings_from_flags
from ui.commands.output import err


def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", help="HTTP: the address to bind (loopback unless a login is set).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP: the port.")] = 8765,
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    embedder: EmbedderOption = None,
) -> None:
    """Serve coderag to MCP clients (assistants, editors, agents): list_databases, describe_database, ask, run_sql, teach_example.

    stdio by default (the client starts this command); --http serves http://HOST:PORT/mcp, behind the
    UI's login when CODERAG_UI__USERNAME / CODERAG_UI__PASSWORD are set.

    Example: coderag mcp --http --port 8765"""
    from ui.mcpserver import serve

    settings = settings_from_flags(generator=generator, llm_model_path=llm_model_path, openai_base_url=openai_base_url, embedder=embedder)
    ready = (lambda url: err.print(f"MCP server on {url}", highlight=False)) if http else None
    serve(settings, http=http, host=host, port=port, ready=ready)
