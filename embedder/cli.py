"""`coderag embedder ...` (train, tokenizer, pairs, mine, export-onnx, bench, list, use) and `coderag retrain`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from rag.errors import ConfigError

app = typer.Typer(no_args_is_help=True, help="Train, export and measure the retrieval embedder.")
out = Console()
err = Console(stderr=True)


def register(root: typer.Typer) -> None:
    """Add `coderag embedder ...` and the top-level `coderag retrain`."""
    root.add_typer(app, name="embedder")
    root.command("retrain")(retrain_command)


def _settings(**overrides: Any) -> Any:
    from rag.settings import load_settings

    return load_settings(**overrides)


def _note(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


DEFAULT_AUGMENT = "skeleton,same_skeleton"


def _augment_kinds(value: str) -> tuple[str, ...]:
    return () if value.strip().lower() in ("", "none") else tuple(k.strip() for k in value.split(",") if k.strip())


def _before_after_table(title: str, rows: list[tuple[str, float, float, float]], before: str = "before", after: str = "after") -> Table:
    table = Table(title=title)
    for column in ("metric", before, after, "Δ"):
        table.add_column(column, justify="right")
    for metric, b, a, delta in rows:
        colour = "green" if delta > 0 else "red" if delta < 0 else "dim"
        table.add_row(metric, f"{b:.4f}", f"{a:.4f}", f"[{colour}]{delta:+.4f}[/]")
    return table


# -- train ----------------------------------------------------------------------------------------


@app.command()
def train(
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Triplet/pair CSV or JSONL (default: synth/data/curated_triplets.csv); repeatable with --from-scratch."),
    out_name: Optional[str] = typer.Option(None, "--out", help="Model directory: a bare NAME goes under the models dir (default: a timestamped name)."),
    base: str = typer.Option("bundled", "--base", help="Model to fine-tune: bundled or a model directory."),
    loss: str = typer.Option("mnrl", "--loss", help="mnrl | cached-mnrl | symmetric"),
    augment: str = typer.Option(DEFAULT_AUGMENT, "--augment", help="Structure augmentation: skeleton,same_skeleton | none (see README)."),
    epochs: int = typer.Option(5, "--epochs", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=2),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 2e-5; 5e-4 with --from-scratch)."),
    max_seq_length: int = typer.Option(512, "--max-seq-length", min=8, help="Token limit while training (capped by the model)."),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Held-out triplets: retrieval metrics on them before/after."),
    template: Optional[str] = typer.Option(None, "--template", help="Document template for the bundled retrieval metrics (default: index.template)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the bundled retrieval metrics."),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", min=1, help="Checkpoint every N steps, for --resume (default 500; from scratch 1000)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out (or discard an interrupted run)."),
    as_json: bool = typer.Option(False, "--json", help="Print training.json."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Train a BERT-style encoder from random weights (GPU)."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Tokenizer directory from `embedder tokenizer` (from scratch)."),
    hidden: int = typer.Option(512, "--hidden", help="Hidden size (from scratch)."),
    layers: int = typer.Option(8, "--layers", help="Transformer layers (from scratch)."),
    heads: int = typer.Option(8, "--heads", help="Attention heads (from scratch)."),
    ffn: int = typer.Option(2048, "--ffn", help="Feed-forward size (from scratch)."),
    max_length: int = typer.Option(256, "--max-length", help="Maximum sequence length (from scratch)."),
    dim: int = typer.Option(384, "--dim", help="Output embedding dimension, after the projection (from scratch)."),
    max_steps: int = typer.Option(10000, "--max-steps", min=1, help="Optimizer steps (from scratch)."),
    warmup_steps: int = typer.Option(500, "--warmup-steps", min=0, help="Linear warm-up steps (from scratch)."),
    eval_every: int = typer.Option(1000, "--eval-every", min=0, help="Retrieval evaluation every N steps, 0 for none (from scratch)."),
    hard_negative_weight: float = typer.Option(0.5, "--hard-negative-weight", min=0.0, help="Weight of the hard-negative term (from scratch)."),
    temperature: float = typer.Option(0.05, "--temperature", min=1e-4, help="InfoNCE temperature (from scratch)."),
    device: str = typer.Option("auto", "--device", help="auto (the GPU with the most free memory) | cuda:N | cpu (from scratch)."),
) -> None:
    """Fine-tune the embedder on triplets (or, with --from-scratch, train a new encoder)."""
    from embedder.finetune import DEFAULT_DATA
    from embedder.workdir import resolve_out

    settings = _settings()
    paths = data or [DEFAULT_DATA]
    if not from_scratch and len(paths) > 1:
        raise ConfigError("fine-tuning takes one --data file (merge them first, or use --from-scratch)")
    target = resolve_out(settings, out_name, "scratch" if from_scratch else "finetuned")
    template_name = template or settings.index.template
    if from_scratch:
        from embedder.scratch import ScratchConfig
        from embedder.train_scratch import ScratchTrainConfig
        from embedder.train_scratch import train as train_scratch

        if tokenizer is None:
            raise ConfigError("--from-scratch needs --tokenizer DIR (train one with `coderag embedder tokenizer`)")
        if hidden % heads:
            raise ConfigError(f"--hidden {hidden} must be divisible by --heads {heads}")
        shape = ScratchConfig(hidden=hidden, layers=layers, heads=heads, ffn=ffn, max_length=max_length, embedding_dim=dim)
        scratch_config = ScratchTrainConfig(
            data=paths,
            tokenizer=tokenizer,
            out=target,
            model=shape,
            batch_size=batch_size,
            lr=lr or 5e-4,
            warmup_steps=warmup_steps,
            max_steps=max_steps,
            temperature=temperature,
            hard_negative_weight=hard_negative_weight,
            save_every=save_steps or 1000,
            eval_every=0 if no_eval else eval_every,
            eval_template=template_name,
            eval_data=eval_data,
            device=device,
            resume=resume,
            overwrite=overwrite,
            show_progress=not as_json,
        )
        metadata = train_scratch(scratch_config, log=_note)
    else:
        from embedder.finetune import FinetuneConfig, finetune
        from embedder.retrieval import compare

        config = FinetuneConfig(
            data=paths[0],
            out=target,
            base=base,
            loss=loss,  # type: ignore[arg-type]
            augment=_augment_kinds(augment),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr or 2e-5,
            max_seq_length=max_seq_length,
            template=template_name,
            eval_data=eval_data,
            evaluate=not no_eval,
            save_steps=save_steps or 500,
            resume=resume,
            overwrite=overwrite,
            show_progress=not as_json,
        )
        result = finetune(config, log=_note)
        metadata = result.metadata
        if not as_json:
            for key, title in (("bundled", f"bundled test split, template {template_name}"), ("eval_data", f"--eval-data {eval_data}")):
                if key in result.before and key in result.after:
                    out.print(_before_after_table(f"Retrieval: {title}", compare(result.before[key], result.after[key])))
    if as_json:
        out.print_json(json.dumps(metadata, default=str))
    else:
        out.print(f"saved {target} ({metadata['steps']} steps in {metadata['train_seconds']:.0f} s); load it with --embedder {target}")


# -- data and tokenizer ---------------------------------------------------------------------------


@app.command()
def tokenizer(
    inputs: Optional[list[Path]] = typer.Option(None, "--input", help="Files or directories of code/text, JSONL/CSV pairs (repeatable; default: the bundled corpus)."),
    out_name: str = typer.Option(..., "--out", help="Tokenizer directory (a bare NAME goes under the models dir)."),
    vocab_size: int = typer.Option(32000, "--vocab-size", min=200),
    min_frequency: int = typer.Option(2, "--min-frequency", min=1),
    max_length: int = typer.Option(256, "--max-length", min=8),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Train a WordPiece tokenizer on raw code and text for --from-scratch training."""
    from embedder.tokenizer import bundled_texts, iter_texts, train_tokenizer
    from embedder.workdir import resolve_out

    target = resolve_out(_settings(), out_name, "tokenizer")
    texts = iter_texts(inputs) if inputs else bundled_texts()
    train_tokenizer(texts, target, vocab_size=vocab_size, min_frequency=min_frequency, max_length=max_length, overwrite=overwrite)
    from tokenizers import Tokenizer

    size = Tokenizer.from_file(str(target / "tokenizer.json")).get_vocab_size()
    out.print(f"saved tokenizer ({size} tokens) → {target}")


@app.command()
def pairs(
    source: str = typer.Argument(..., help="codexglue | mbpp | humaneval | leetcode | code-rag-bench"),
    out_file: Path = typer.Option(..., "--out", help="JSONL file to write (anchor, positive, source, split)."),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="A local parquet/JSONL/CSV with the hub dataset's columns (offline)."),
    split: Optional[list[str]] = typer.Option(None, "--split", help="Hub split(s) to read (default: all of the source's)."),
    language: Optional[str] = typer.Option(None, "--language", help="codexglue language: python, java, javascript, go, php, ruby."),
    subset: Optional[str] = typer.Option(None, "--subset", help="code-rag-bench dataset: mbpp, humaneval, ds1000, odex."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Stop after N pairs."),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Download public (text, code) pairs through `datasets` as training JSONL."""
    from embedder.pairs import iter_pairs, write_pairs

    count = write_pairs(iter_pairs(source, from_file=from_file, splits=split, language=language, subset=subset, limit=limit), out_file, overwrite=overwrite)
    out.print(f"wrote {count} pairs → {out_file}")


@app.command()
def mine(
    model: str = typer.Option(..., "--model", help="Model that ranks the candidates: bundled or a model directory."),
    data: Path = typer.Option(..., "--data", help="Triplet file (CSV or JSONL)."),
    out_file: Path = typer.Option(..., "--out", help="Triplet CSV to write (JSONL with every negative alongside)."),
    depth: int = typer.Option(30, "--depth", min=1, help="Neighbours examined per query."),
    margin: float = typer.Option(0.05, "--margin", min=0.0, help="Skip candidates scoring within this margin of the positive (likely false negatives)."),
    strategy: str = typer.Option("softmax", "--strategy", help="softmax (sample by score / temperature) | rank (uniform in the top --depth)."),
    temperature: float = typer.Option(0.05, "--temperature", min=1e-4),
    num_negatives: int = typer.Option(1, "--num-negatives", min=1, max=64, help="Negatives per row (the CSV keeps the first)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Mine fresh hard negatives with a model (then train again from it: two commands per round)."""
    from embedder.mining import refresh_negatives
    from rag.encoders import load_encoder
    from synth.mining import MiningConfig
    from synth.triplets import read_triplets, write_triplets

    if out_file.suffix.lower() != ".csv":
        raise ConfigError(f"--out must be a .csv file (the .jsonl is written alongside): {out_file}")
    if (out_file.exists() or out_file.with_suffix(".jsonl").exists()) and not overwrite:
        raise ConfigError(f"{out_file} (or its .jsonl) already exists", hint="pass --overwrite to replace it")
    config = MiningConfig(top_k=depth, strategy=strategy, rank_range=(0, depth), temperature=temperature, margin=margin, num_negatives=num_negatives, seed=seed)  # type: ignore[arg-type]
    triplets = read_triplets(data)
    encoder = load_encoder(model)
    counts = refresh_negatives(encoder, triplets, config, f"embedder mine ({encoder.name})", show_progress=True)
    csv_path, jsonl = write_triplets(triplets, out_file)
    out.print(f"{len(triplets)} rows → {csv_path} (+ {jsonl.name})")
    for what, count in sorted(counts.items()):
        out.print(f"  {what}: {count}")


# -- serving --------------------------------------------------------------------------------------


@app.command("export-onnx")
def export_onnx_command(
    model: str = typer.Option("bundled", "--model", help="bundled or a model directory."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: also write a dynamically quantized model."),
    int8_scheme: Optional[str] = typer.Option(None, "--int8-scheme", help="int8 activations: per-token (default; keeps retrieval, ~2x torch) or per-tensor (onnxruntime quantize_dynamic, faster, less exact)."),
) -> None:
    """Export encoder + pooling + normalisation to ONNX (and int8), with parity checks against torch."""
    from embedder.onnx_export import export_onnx
    from embedder.quantize import DEFAULT_SCHEME

    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize supports int8, not '{quantize}'")
    if int8_scheme is not None and quantize is None:
        raise ConfigError("--int8-scheme needs --quantize int8")
    settings = _settings()
    result = export_onnx(model, quantize=quantize == "int8", scheme=int8_scheme or DEFAULT_SCHEME, models_dir=settings.models_dir)
    table = Table(title=f"ONNX export → {result.directory}")
    for column in ("variant", "file", "min cosine vs torch", "mean cosine"):
        table.add_column(column)
    for variant, filename in result.files.items():
        parity = result.parity.get(variant, {})
        table.add_row(variant, filename, f"{parity.get('min_cosine', float('nan')):.5f}", f"{parity.get('mean_cosine', float('nan')):.5f}")
    out.print(table)
    out.print("serve it with embedder.backend: onnx" + (" or onnx-int8" if quantize else "") + " (or CODERAG_EMBEDDER__BACKEND)")


@app.command()
def bench(
    model: str = typer.Option("bundled", "--model", help="bundled or a model directory (exported with export-onnx --quantize int8)."),
    backends: str = typer.Option("torch,onnx,onnx-int8", "--backends", help="Comma-separated: torch, onnx, onnx-int8."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for every backend (default: all cores)."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Timed passes (medians are reported)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    template: Optional[str] = typer.Option(None, "--template", help="Document template (default: index.template)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the retrieval metrics."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Also write the report as JSON."),
) -> None:
    """Documents/s, single-query latency and Recall@3 / MRR@10 for each backend, side by side."""
    from embedder.bench import format_table, run_bench
    from rag.io import write_json_atomic

    settings = _settings()
    report = run_bench(
        model,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        template=template or settings.index.template,
        threads=threads,
        batch_size=batch_size,
        rounds=rounds,
        evaluate=not no_eval,
        log=_note,
    )
    out.print(format_table(report))
    if json_out:
        write_json_atomic(json_out, report)
        out.print(f"wrote {json_out}")


# -- versions -------------------------------------------------------------------------------------


@app.command("list")
def list_versions(as_json: bool = typer.Option(False, "--json")) -> None:
    """Registered embedder versions (the current one marked)."""
    from rag.models import read_registry

    settings = _settings()
    registry = read_registry(settings.models_dir)
    if as_json:
        out.print_json(json.dumps(registry))
        return
    table = Table(title=f"Embedder versions ({settings.models_dir})")
    for column in ("", "version", "created", "base", "data rows", "Recall@3", "MRR@10", "path"):
        table.add_column(column)
    table.add_row("*" if not registry["current"] else "", "bundled", "", "all-MiniLM-L6-v2", "", "", "", "(package)")
    for version in registry["versions"]:
        metrics = version.get("metrics") or {}
        table.add_row(
            "*" if version["name"] == registry["current"] else "",
            version["name"],
            version.get("created", ""),
            Path(str(version.get("base") or "")).name or "",
            str((version.get("data") or {}).get("rows_used", "")),
            f"{metrics['recall@3']:.4f}" if "recall@3" in metrics else "",
            f"{metrics['mrr@10']:.4f}" if "mrr@10" in metrics else "",
            version["path"],
        )
    out.print(table)


@app.command()
def use(version: str = typer.Argument(..., help="A registered version (v1, v2, ...) or 'bundled'.")) -> None:
    """Switch the current embedder version (its index is built on first use)."""
    from embedder.registry import set_current

    settings = _settings()
    set_current(settings.models_dir, version)
    out.print(f"current embedder: {version}")


def retrain_command(
    data: Path = typer.Option(..., "--data", help="New triplets (CSV or JSONL)."),
    force: bool = typer.Option(False, "--force", help="Switch to the new model even if it is not better."),
    epochs: int = typer.Option(5, "--epochs", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=2),
    lr: float = typer.Option(2e-5, "--lr"),
    loss: str = typer.Option("mnrl", "--loss", help="mnrl | cached-mnrl | symmetric"),
    augment: str = typer.Option(DEFAULT_AUGMENT, "--augment", help="Structure augmentation: skeleton,same_skeleton | none."),
) -> None:
    """Train from the current embedder; switch to the result (new version + index) only if it retrieves better."""
    from embedder.retrain import retrain

    settings = _settings()
    result = retrain(settings, data, force=force, epochs=epochs, batch_size=batch_size, lr=lr, loss=loss, augment=_augment_kinds(augment), log=_note)
    out.print(_before_after_table(f"Retrieval on the bundled test split (template {settings.index.template})", result.table(), "current", "candidate"))
    out.print(("[green]" if result.accepted else "[yellow]") + result.reason + "[/]")
    if result.index:
        out.print(f"index rebuilt → {result.index}")
