"""`coderag models check | pull`: try the configured LLM with one tiny question; download the default GGUF."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from rag.options import GeneratorOption, LlmModelPathOption, OpenAIBaseUrlOption, settings_from_flags
from ui.commands.output import out

app = typer.Typer(
    no_args_is_help=True, help="Check the configured LLM; download LLM weights (online only).\n\nExample: coderag models check"
)


@app.command("check")
def models_check(
    generator: GeneratorOption = None,
    llm_model_path: LlmModelPathOption = None,
    openai_base_url: OpenAIBaseUrlOption = None,
    openai_model: Annotated[
        str | None, typer.Option("--openai-model", help="The server's model name, e.g. qwen2.5-coder:7b for Ollama.")
    ] = None,
) -> None:
    """Send one tiny question to the configured LLM: does it answer, how fast, does it follow the SQL format (one line).

    Example: coderag models check --generator openai --openai-base-url http://127.0.0.1:11434/v1 --openai-model qwen2.5-coder:7b"""
    from rag.llmcheck import check_model

    settings = settings_from_flags(
        generator=generator, llm_model_path=llm_model_path, openai_base_url=openai_base_url, openai={"model": openai_model}
    )
    out.print(Text(check_model(settings).line), soft_wrap=True, highlight=False)


@app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="Model to download.")] = "mistral-7b-instruct-v0.2") -> None:
    """Download the default GGUF (Mistral-7B-Instruct-v0.2 Q4_K_M) with huggingface_hub.

    Example: coderag models pull mistral-7b-instruct-v0.2"""
    from rag.errors import ConfigError
    from rag.generators import pull_model

    settings = settings_from_flags()
    if name != "mistral-7b-instruct-v0.2":
        raise ConfigError(f"unknown model '{name}' (known: mistral-7b-instruct-v0.2; set llm.hub_repo/hub_file for others)")
    path = pull_model(settings)
    out.print(f"downloaded {path}\nset llm.model_path to it, or: export CODERAG_LLM__MODEL_PATH={path}")
