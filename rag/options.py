"""The command line's shared options, declared once (typer `Annotated` aliases), and the one place
where flags become settings (`settings_from_flags`).

A command declares `db: DbOption = None` instead of repeating the flag's name and help; a flag that
is not given stays None and leaves the YAML / environment value alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pydantic-settings loads when a command runs, not for `--help`
    from rag.settings import Settings

# -- which database, which models ----------------------------------------------------------------
DB_HELP = "Demo database name (bookshop, clinic), registered name, SQLite file path, or URL: postgresql://, mysql://, duckdb:///FILE, sqlite:///FILE."
DbOption = Annotated[str | None, typer.Option("--db", help=DB_HELP)]
GeneratorOption = Annotated[str | None, typer.Option("--generator", help="auto | llm | openai | knn")]
LlmModelPathOption = Annotated[Path | None, typer.Option("--llm-model-path", help="GGUF file for llama.cpp.")]
OpenAIBaseUrlOption = Annotated[str | None, typer.Option("--openai-base-url", help="OpenAI-compatible server URL.")]
EmbedderOption = Annotated[
    str | None, typer.Option("--embedder", help="Embedder: shipped (default), bundled (all-MiniLM-L6-v2), a model directory, or a hub id.")
]
GrammarOption = Annotated[bool, typer.Option("--grammar", help="Constrain llama.cpp output to one SELECT (GBNF).")]

# -- retrieval and corpora -------------------------------------------------------------------------
KOption = Annotated[int | None, typer.Option("--k", min=0, max=50, help="Examples to retrieve (default 3).")]
TemplateOption = Annotated[str | None, typer.Option("--template", help="Document template (docs/concepts/retrieval.md).")]
CorpusOption = Annotated[
    str, typer.Option("--corpus", help="default | bundled | demo | gretel[:FILE] | spider:DIR | jsonl:FILE | csv:FILE")
]
SplitOption = Annotated[str, typer.Option("--split", help="Corpus split (train, test, all).")]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N examples.")]

# -- execution and output --------------------------------------------------------------------------
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Query time limit in seconds (default 5).")]
AllowPrivilegedRoleOption = Annotated[
    bool,
    typer.Option(
        "--allow-privileged-role",
        help='Connect even as a server role that may write or is a superuser (refused otherwise: docs/engines.md, "A read-only role").',
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
OutDirOption = Annotated[Path | None, typer.Option("--out", help="Output directory.")]


def settings_from_flags(
    *,
    generator: str | None = None,
    llm_model_path: Path | None = None,
    grammar: bool | None = None,
    openai_base_url: str | None = None,
    embedder: str | None = None,
    template: str | None = None,
    k: int | None = None,
    timeout_s: float | None = None,
    **sections: dict[str, Any] | None,
) -> Settings:
    """Settings from YAML + environment with the given flags on top (None leaves a value alone).

    `sections` adds other settings sections as dicts, e.g. `ui={"host": host}`.
    """
    from rag.settings import load_settings

    flags: dict[str, Any] = {
        "generator": generator,
        "llm": {"model_path": llm_model_path, "grammar": grammar or None},
        "openai": {"base_url": openai_base_url},
        "embedder": {"model": embedder},
        "index": {"template": template},
        "retrieval": {"k": k},
        "execution": {"timeout_s": timeout_s},
    }
    for name, values in sections.items():
        if isinstance(flags.get(name), dict):
            flags[name] = {**flags[name], **(values or {})}
        else:
            flags[name] = values
    return load_settings(**flags)
