"""`coderag embedder export-onnx | pack | bench`: make a retriever fast to serve, ship it, and measure it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedder.commands.common import ModelOption, note, out
from rag.errors import ConfigError
from rag.options import TemplateOption, settings_from_flags


def export_onnx_command(
    model: ModelOption = "bundled",
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: also write a dynamically quantized model.")] = None,
    int8_scheme: Annotated[
        str | None,
        typer.Option(
            "--int8-scheme",
            help="int8 activations: per-token (default; keeps retrieval, ~2x torch) or per-tensor (onnxruntime quantize_dynamic, faster, less exact).",
        ),
    ] = None,
) -> None:
    """Export encoder + pooling + normalisation to ONNX (and int8), with parity checks against torch.

    Example: coderag embedder export-onnx --model my-embedder --quantize int8"""
    from embedder.onnx_export import export_onnx
    from embedder.quantize import DEFAULT_SCHEME

    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize supports int8, not '{quantize}'")
    if int8_scheme is not None and quantize is None:
        raise ConfigError("--int8-scheme needs --quantize int8")
    settings = settings_from_flags()
    result = export_onnx(model, quantize=quantize == "int8", scheme=int8_scheme or DEFAULT_SCHEME, models_dir=settings.models_dir)
    table = Table(title=f"ONNX export → {result.directory}")
    for column in ("variant", "file", "min cosine vs torch", "mean cosine"):
        table.add_column(column)
    for variant, filename in result.files.items():
        parity = result.parity.get(variant, {})
        table.add_row(variant, filename, f"{parity.get('min_cosine', float('nan')):.5f}", f"{parity.get('mean_cosine', float('nan')):.5f}")
    out.print(table)
    out.print("serve it with embedder.backend: onnx" + (" or onnx-int8" if quantize else "") + " (or CODERAG_EMBEDDER__BACKEND)")


def pack(
    model: Annotated[Path, typer.Option("--model", help="A model directory written by `embedder finetune`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the shipped model (the package's is rag/data/model).")],
    name: Annotated[str, typer.Option("--name", help="The model's display name.")] = "coderag-retriever",
    commands: Annotated[
        list[str] | None, typer.Option("--command", help="A command that made the model, for its record (repeatable, in order).")
    ] = None,
) -> None:
    """Pack a fine-tuned model as the shipped retriever: int8 ONNX + tokenizer + fp16 weights + its record (`make model`).

    Example: coderag embedder pack --model build/model/finetuned --out rag/data/model"""
    from embedder.pack import pack_model

    record = pack_model(settings_from_flags(), model, out_dir, name=name, commands=commands or [], log=note)
    metrics = record["metrics"]
    table = Table(title=f"{record['name']} → {out_dir} ({record['total_bytes'] / 1e6:.1f} MB)")
    for column in ("backend", "Recall@3", "accuracy@3", "MRR@10"):
        table.add_column(column)
    for backend in ("torch", "onnx-int8"):
        m = metrics[backend]
        table.add_row(backend, f"{m['recall@3']:.4f}", f"{m['accuracy@3']:.4f}", f"{m['mrr@10']:.4f}")
    out.print(table)
    out.print(
        f"min cosine to torch fp32: int8 {metrics['int8_min_cosine']:.4f}, torch rebuilt from the pack {metrics['torch_rebuilt_min_cosine']:.5f}"
    )


def bench(
    model: Annotated[
        str, typer.Option("--model", help="bundled or a model directory (exported with export-onnx --quantize int8).")
    ] = "bundled",
    backends: Annotated[str, typer.Option("--backends", help="Comma-separated: torch, onnx, onnx-int8.")] = "torch,onnx,onnx-int8",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for every backend (default: all cores).")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Timed passes (medians are reported).")] = 5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    template: TemplateOption = None,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip the retrieval metrics.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="Also write the report as JSON.")] = None,
) -> None:
    """Documents/s, single-query latency and Recall@3 / MRR@10 for each backend, side by side.

    Example: coderag embedder bench --model bundled --backends torch,onnx-int8"""
    from embedder.bench import format_table, run_bench
    from rag.io import write_json_atomic

    settings = settings_from_flags(template=template)
    report = run_bench(
        settings,
        model,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        threads=threads,
        batch_size=batch_size,
        rounds=rounds,
        evaluate=not no_eval,
        log=note,
    )
    out.print(format_table(report))
    if json_out:
        write_json_atomic(json_out, report)
        out.print(f"wrote {json_out}")
