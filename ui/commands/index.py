"""`coderag index build | info`: embed a corpus into a FAISS index; print an index's manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rag.options import CorpusOption, EmbedderOption, OutDirOption, SplitOption, TemplateOption, settings_from_flags
from ui.commands.output import out

app = typer.Typer(no_args_is_help=True, help="Build and inspect FAISS indexes.\n\nExample: coderag index build --corpus default")


@app.command("build")
def index_build(
    corpus: CorpusOption = "default",
    split: SplitOption = "train",
    embedder: EmbedderOption = None,
    template: TemplateOption = None,
    out_dir: OutDirOption = None,
) -> None:
    """Embed a corpus into a FAISS index (index.faiss, docs.jsonl, manifest.json).

    Example: coderag index build --corpus demo --out build/demo-index"""
    from rag.corpus import load_corpus
    from rag.documents import render
    from rag.wiring import build_index

    settings = settings_from_flags(embedder=embedder, template=template)
    template_name = settings.index.template
    examples = load_corpus(corpus, None if split == "all" else split, home=settings.home)
    render(examples[0], template_name)  # an unknown template fails before the model loads
    index, target = build_index(settings, examples, corpus, directory=out_dir)
    m = index.manifest
    out.print(
        f"indexed {m['count']} documents ({m['embedded']} embedded, {m['dimension']}-d, template {template_name}, "
        f"embedder {m['embedder']}) in {m['build_seconds']:.1f} s → {target}"
    )


@app.command("info")
def index_info(directory: Annotated[Path, typer.Argument(help="An index directory.")]) -> None:
    """Print an index's manifest.

    Example: coderag index info build/demo-index"""
    from rag.index import VectorIndex

    index = VectorIndex.load(directory)
    out.print_json(json.dumps(index.manifest))
