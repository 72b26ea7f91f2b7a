"""`coderag embedder ...` (finetune, train-scratch, tokenizer, pairs, mine, export-onnx, bench, list, use)
and `coderag retrain`.

The entry point of the embedder package: each command loads the settings once (`settings_from_flags`)
and hands them, or plain values, to the library. Heavy modules (torch, sentence-transformers,
transformers) are imported inside command bodies, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from rag.errors import ConfigError
from rag.options import JsonOption, TemplateOption, settings_from_flags

app = typer.Typer(no_args_is_help=True, help="Train, export and measure the retrieval embedder.")
out = Console()
err = Console(stderr=True)

DEFAULT_AUGMENT = "skeleton,same_skeleton"

# -- options shared by several commands (declared once; defaults live in each signature) --------------
ModelOption = Annotated[str, typer.Option("--model", help="bundled or a model directory.")]
TrainDataOption = Annotated[
    Optional[list[Path]],
    typer.Option("--data", help="Triplet/pair CSV or JSONL (default: synth/data/curated_triplets.csv); train-scratch takes several."),
]
ModelOutOption = Annotated[Optional[str], typer.Option("--out", help="Model directory: a bare NAME goes under the models dir (default: a timestamped name).")]
EpochsOption = Annotated[int, typer.Option("--epochs", min=1)]
TrainBatchSizeOption = Annotated[int, typer.Option("--batch-size", min=2, help="Rows per batch (the other rows are in-batch negatives).")]
LrOption = Annotated[float, typer.Option("--lr", help="Peak learning rate.")]
LossOption = Annotated[str, typer.Option("--loss", help="mnrl | cached-mnrl | symmetric")]
AugmentOption = Annotated[str, typer.Option("--augment", help="Structure augmentation: skeleton,same_skeleton | none (see README).")]
EvalDataOption = Annotated[Optional[Path], typer.Option("--eval-data", help="Held-out triplets: retrieval metrics on them too.")]
NoEvalOption = Annotated[bool, typer.Option("--no-eval", help="Skip the bundled retrieval metrics.")]
SaveStepsOption = Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps, for --resume.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out (and discard an interrupted run).")]
MaxLengthOption = Annotated[int, typer.Option("--max-length", min=8, help="Maximum sequence length in tokens.")]
TemperatureOption = Annotated[float, typer.Option("--temperature", min=1e-4, help="Softmax temperature.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.")]


def register(root: typer.Typer) -> None:
    """Add `coderag embedder ...` and the top-level `coderag retrain`."""
    root.add_typer(app, name="embedder")
    root.command("retrain")(retrain_command)


def _note(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


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


def _print_saved(target: Path, metadata: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(metadata, default=str))
    else:
        out.print(f"saved {target} ({metadata['steps']} steps in {metadata['train_seconds']:.0f} s); load it with --embedder {target}")


# -- training -------------------------------------------------------------------------------------


@app.command()
def finetune(
    data: TrainDataOption = None,
    out_name: ModelOutOption = None,
    base: Annotated[str, typer.Option("--base", help="Model to fine-tune: bundled or a model directory.")] = "bundled",
    loss: LossOption = "mnrl",
    augment: AugmentOption = DEFAULT_AUGMENT,
    epochs: EpochsOption = 5,
    batch_size: TrainBatchSizeOption = 16,
    lr: LrOption = 2e-5,
    max_seq_length: Annotated[int, typer.Option("--max-seq-length", min=8, help="Token limit while training (capped by the model).")] = 512,
    eval_data: EvalDataOption = None,
    template: TemplateOption = None,
    no_eval: NoEvalOption = False,
    save_steps: SaveStepsOption = 500,
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune a sentence-transformers embedder on triplets (retrieval metrics before and after)."""
    from embedder.finetune import DEFAULT_DATA, FinetuneConfig
    from embedder.finetune import finetune as run_finetune
    from embedder.retrieval import compare
    from embedder.workdir import resolve_out

    if data and len(data) > 1:
        raise ConfigError("finetune takes one --data file (merge them first, or use train-scratch)")
    settings = settings_from_flags(template=template)
    template_name = settings.index.template
    target = resolve_out(settings, out_name, "finetuned")
    train_data = data[0] if data else _last_synthesized(settings.home) or DEFAULT_DATA
    if not data:
        _note(f"training on {train_data}" + (" (the triplets `coderag synth` wrote last)" if train_data != DEFAULT_DATA else " (the shipped curated triplets)"))
    config = FinetuneConfig(
        data=train_data,
        out=target,
        base=base,
        loss=loss,  # type: ignore[arg-type]
        augment=_augment_kinds(augment),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_seq_length=max_seq_length,
        template=template_name,
        eval_data=eval_data,
        evaluate=not no_eval,
        save_steps=save_steps,
        resume=resume,
        overwrite=overwrite,
        show_progress=not as_json,
    )
    result = run_finetune(settings, config, log=_note)
    if not as_json:
        for key, title in (("bundled", f"bundled test split, template {template_name}"), ("eval_data", f"--eval-data {eval_data}")):
            if key in result.before and key in result.after:
                out.print(_before_after_table(f"Retrieval: {title}", compare(result.before[key], result.after[key])))
    _print_saved(target, result.metadata, as_json)
    _register(settings.models_dir, target, result.metadata, as_json)


def _last_synthesized(home: Path) -> Path | None:
    """The triplet file `coderag synth` wrote last, if it is still there."""
    from rag.io import read_json
    from synth.pipeline import last_run_path

    record = last_run_path(home)
    if not record.is_file():
        return None
    path = Path(str(read_json(record).get("csv", "")))
    return path if path.is_file() else None


def _register(models_dir: Path, target: Path, metadata: dict[str, Any], as_json: bool) -> None:
    """Every trained model becomes a registered version (not the current one): `embedder use` switches to it."""
    from embedder.registry import add_version, next_version_name
    from rag.models import read_registry

    version = next_version_name(read_registry(models_dir))
    add_version(models_dir, version, target, metadata, make_current=False)
    if not as_json:
        out.print(f"registered as {version}; serve it with: coderag embedder use {version}")


@app.command("train-scratch")
def train_scratch(
    data: TrainDataOption = None,
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", help="Tokenizer directory from `embedder tokenizer`.")] = None,
    out_name: ModelOutOption = None,
    hidden: Annotated[int, typer.Option("--hidden", min=1, help="Hidden size.")] = 512,
    layers: Annotated[int, typer.Option("--layers", min=1, help="Transformer layers.")] = 8,
    heads: Annotated[int, typer.Option("--heads", min=1, help="Attention heads.")] = 8,
    ffn: Annotated[int, typer.Option("--ffn", min=1, help="Feed-forward size.")] = 2048,
    max_length: MaxLengthOption = 256,
    dim: Annotated[int, typer.Option("--dim", min=1, help="Output embedding dimension, after the projection.")] = 384,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=1.0, help="Dropout in the encoder body.")] = 0.1,
    batch_size: TrainBatchSizeOption = 16,
    lr: LrOption = 5e-4,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, help="AdamW weight decay (matrices only).")] = 0.01,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=0, help="Linear warm-up steps.")] = 500,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Optimizer steps.")] = 10000,
    temperature: TemperatureOption = 0.05,
    hard_negative_weight: Annotated[float, typer.Option("--hard-negative-weight", min=0.0, help="Weight of the hard-negative term.")] = 0.5,
    grad_clip: Annotated[float, typer.Option("--grad-clip", min=0.0, help="Gradient norm limit, 0 for none.")] = 1.0,
    save_steps: SaveStepsOption = 1000,
    eval_every: Annotated[int, typer.Option("--eval-every", min=0, help="Retrieval evaluation every N steps, 0 for none.")] = 1000,
    eval_data: EvalDataOption = None,
    template: TemplateOption = None,
    no_eval: NoEvalOption = False,
    log_every: Annotated[int, typer.Option("--log-every", min=1, help="Show the loss every N steps.")] = 50,
    seed: SeedOption = 1337,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto (the GPU with the most free memory) | cuda:N | cpu.")] = "auto",
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a BERT-style encoder from random weights (GPU; several with torchrun, see embedder/train_scratch.py)."""
    from embedder.finetune import DEFAULT_DATA
    from embedder.scratch import ScratchConfig
    from embedder.train_scratch import ScratchTrainConfig, train
    from embedder.workdir import resolve_out

    if tokenizer is None:
        raise ConfigError("train-scratch needs --tokenizer DIR (train one with `coderag embedder tokenizer`)")
    if hidden % heads:
        raise ConfigError(f"--hidden {hidden} must be divisible by --heads {heads}")
    settings = settings_from_flags(template=template)
    target = resolve_out(settings, out_name, "scratch")
    config = ScratchTrainConfig(
        data=data or [DEFAULT_DATA],
        tokenizer=tokenizer,
        out=target,
        model=ScratchConfig(hidden=hidden, layers=layers, heads=heads, ffn=ffn, max_length=max_length, embedding_dim=dim, dropout=dropout),
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        temperature=temperature,
        hard_negative_weight=hard_negative_weight,
        grad_clip=grad_clip,
        save_every=save_steps,
        eval_every=0 if no_eval else eval_every,
        log_every=log_every,
        eval_template=settings.index.template,
        eval_data=eval_data,
        device=device,
        compile=compile_model,
        seed=seed,
        resume=resume,
        overwrite=overwrite,
        show_progress=not as_json,
    )
    metadata = train(settings, config, log=_note)
    if metadata:  # under torchrun only the first process writes the model
        _print_saved(target, metadata, as_json)


@app.command("train", hidden=True, add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_alias(ctx: typer.Context) -> None:
    """The old name: `train` runs `finetune`, `train --from-scratch` runs `train-scratch` (same options)."""
    args = [arg for arg in ctx.args if arg != "--from-scratch"]
    name = "train-scratch" if len(args) < len(ctx.args) else "finetune"
    group = ctx.parent.command  # the `embedder` group
    command = group.get_command(ctx.parent, name)
    with command.make_context(name, args, parent=ctx.parent) as target:
        command.invoke(target)


# -- data and tokenizer ---------------------------------------------------------------------------


@app.command()
def tokenizer(
    out_name: Annotated[str, typer.Option("--out", help="Tokenizer directory (a bare NAME goes under the models dir).")],
    inputs: Annotated[
        Optional[list[Path]],
        typer.Option("--input", help="Files or directories of code/text, JSONL/CSV pairs (repeatable; default: the bundled corpus)."),
    ] = None,
    vocab_size: Annotated[int, typer.Option("--vocab-size", min=200)] = 32000,
    min_frequency: Annotated[int, typer.Option("--min-frequency", min=1)] = 2,
    max_length: MaxLengthOption = 256,
    overwrite: OverwriteOption = False,
) -> None:
    """Train a WordPiece tokenizer on raw code and text for `embedder train-scratch`."""
    from tokenizers import Tokenizer

    from embedder.tokenizer import bundled_texts, iter_texts, train_tokenizer
    from embedder.workdir import resolve_out

    target = resolve_out(settings_from_flags(), out_name, "tokenizer")
    texts = iter_texts(inputs) if inputs else bundled_texts()
    train_tokenizer(texts, target, vocab_size=vocab_size, min_frequency=min_frequency, max_length=max_length, overwrite=overwrite)
    size = Tokenizer.from_file(str(target / "tokenizer.json")).get_vocab_size()
    out.print(f"saved tokenizer ({size} tokens) → {target}")


@app.command()
def pairs(
    source: Annotated[str, typer.Argument(help="codexglue | mbpp | humaneval | leetcode | code-rag-bench")],
    out_file: Annotated[Path, typer.Option("--out", help="JSONL file to write (anchor, positive, source, split).")],
    from_file: Annotated[Optional[Path], typer.Option("--from-file", help="A local parquet/JSONL/CSV with the hub dataset's columns (offline).")] = None,
    split: Annotated[Optional[list[str]], typer.Option("--split", help="Hub split(s) to read (default: all of the source's).")] = None,
    language: Annotated[Optional[str], typer.Option("--language", help="codexglue language: python, java, javascript, go, php, ruby.")] = None,
    subset: Annotated[Optional[str], typer.Option("--subset", help="code-rag-bench dataset: mbpp, humaneval, ds1000, odex.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Stop after N pairs.")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Download public (text, code) pairs through `datasets` as training JSONL."""
    from embedder.pairs import iter_pairs, write_pairs

    count = write_pairs(iter_pairs(source, from_file=from_file, splits=split, language=language, subset=subset, limit=limit), out_file, overwrite=overwrite)
    out.print(f"wrote {count} pairs → {out_file}")


@app.command()
def mine(
    model: ModelOption,
    data: Annotated[Path, typer.Option("--data", help="Triplet file (CSV or JSONL).")],
    out_file: Annotated[Path, typer.Option("--out", help="Triplet CSV to write (JSONL with every negative alongside).")],
    depth: Annotated[int, typer.Option("--depth", min=1, help="Neighbours examined per query.")] = 30,
    margin: Annotated[float, typer.Option("--margin", min=0.0, help="Skip candidates scoring within this margin of the positive (likely false negatives).")] = 0.05,
    strategy: Annotated[str, typer.Option("--strategy", help="softmax (sample by score / temperature) | rank (uniform in the top --depth).")] = "softmax",
    temperature: TemperatureOption = 0.05,
    num_negatives: Annotated[int, typer.Option("--num-negatives", min=1, max=64, help="Negatives per row (the CSV keeps the first).")] = 1,
    seed: SeedOption = 0,
    overwrite: OverwriteOption = False,
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
    encoder = load_encoder(model, models_dir=settings_from_flags().models_dir)
    counts = refresh_negatives(encoder, triplets, config, f"embedder mine ({encoder.name})", show_progress=True)
    csv_path, jsonl = write_triplets(triplets, out_file)
    out.print(f"{len(triplets)} rows → {csv_path} (+ {jsonl.name})")
    for what, count in sorted(counts.items()):
        out.print(f"  {what}: {count}")


# -- serving --------------------------------------------------------------------------------------


@app.command("export-onnx")
def export_onnx_command(
    model: ModelOption = "bundled",
    quantize: Annotated[Optional[str], typer.Option("--quantize", help="int8: also write a dynamically quantized model.")] = None,
    int8_scheme: Annotated[
        Optional[str],
        typer.Option("--int8-scheme", help="int8 activations: per-token (default; keeps retrieval, ~2x torch) or per-tensor (onnxruntime quantize_dynamic, faster, less exact)."),
    ] = None,
) -> None:
    """Export encoder + pooling + normalisation to ONNX (and int8), with parity checks against torch."""
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


@app.command()
def pack(
    model: Annotated[Path, typer.Option("--model", help="A model directory written by `embedder finetune`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the shipped model (the package's is rag/data/model).")],
    name: Annotated[str, typer.Option("--name", help="The model's display name.")] = "coderag-retriever",
    commands: Annotated[Optional[list[str]], typer.Option("--command", help="A command that made the model, for its record (repeatable, in order).")] = None,
) -> None:
    """Pack a fine-tuned model as the shipped retriever: int8 ONNX + tokenizer + fp16 weights + its record (`make model`)."""
    from embedder.pack import pack_model

    record = pack_model(settings_from_flags(), model, out_dir, name=name, commands=commands or [], log=_note)
    metrics = record["metrics"]
    table = Table(title=f"{record['name']} → {out_dir} ({record['total_bytes'] / 1e6:.1f} MB)")
    for column in ("backend", "Recall@3", "accuracy@3", "MRR@10"):
        table.add_column(column)
    for backend in ("torch", "onnx-int8"):
        m = metrics[backend]
        table.add_row(backend, f"{m['recall@3']:.4f}", f"{m['accuracy@3']:.4f}", f"{m['mrr@10']:.4f}")
    out.print(table)
    out.print(f"min cosine to torch fp32: int8 {metrics['int8_min_cosine']:.4f}, torch rebuilt from the pack {metrics['torch_rebuilt_min_cosine']:.5f}")


@app.command()
def bench(
    model: Annotated[str, typer.Option("--model", help="bundled or a model directory (exported with export-onnx --quantize int8).")] = "bundled",
    backends: Annotated[str, typer.Option("--backends", help="Comma-separated: torch, onnx, onnx-int8.")] = "torch,onnx,onnx-int8",
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for every backend (default: all cores).")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Timed passes (medians are reported).")] = 5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    template: TemplateOption = None,
    no_eval: Annotated[bool, typer.Option("--no-eval", help="Skip the retrieval metrics.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Also write the report as JSON.")] = None,
) -> None:
    """Documents/s, single-query latency and Recall@3 / MRR@10 for each backend, side by side."""
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
        log=_note,
    )
    out.print(format_table(report))
    if json_out:
        write_json_atomic(json_out, report)
        out.print(f"wrote {json_out}")


# -- versions -------------------------------------------------------------------------------------


@app.command("list")
def list_versions(as_json: JsonOption = False) -> None:
    """Registered embedder versions (the current one marked); `shipped` is the model in the package."""
    from rag.models import DEFAULT_MODEL, SHIPPED_DIR, read_registry, shipped_record

    settings = settings_from_flags()
    registry = read_registry(settings.models_dir)
    if as_json:
        out.print_json(json.dumps(registry))
        return
    table = Table(title=f"Embedder versions ({settings.models_dir})")
    for column in ("", "version", "created", "base", "data rows", "Recall@3", "MRR@10", "path"):
        table.add_column(column)
    shipped = shipped_record()
    metrics = shipped["metrics"]["onnx-int8"]
    table.add_row(
        "*" if not registry["current"] else "",
        DEFAULT_MODEL,
        shipped.get("created", ""),
        shipped["base"].get("name", ""),
        str(shipped["data"].get("rows_used", "")),
        f"{metrics['recall@3']:.4f}",
        f"{metrics['mrr@10']:.4f}",
        f"{SHIPPED_DIR} (package)",
    )
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
def use(version: Annotated[str, typer.Argument(help="A registered version (v1, v2, ...) or 'shipped'.")]) -> None:
    """Switch the current embedder version (exported to ONNX first when serving needs it; its index is built on first use)."""
    from embedder.onnx_export import ensure_export
    from embedder.registry import set_current
    from rag.models import DEFAULT_MODEL, find_version, read_registry

    settings = settings_from_flags()
    entry = find_version(read_registry(settings.models_dir), version) if version != DEFAULT_MODEL else None
    if entry is not None:
        ensure_export(entry["path"], settings.embedder.backend, settings.models_dir, log=_note)
    set_current(settings.models_dir, version)
    out.print(f"current embedder: {version}")


def retrain_command(
    data: Annotated[Optional[Path], typer.Option("--data", help="New triplets (CSV or JSONL).")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="Adapt to this registered database's own examples instead (see `coderag db add`).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Switch to the new model even if it is not better.")] = False,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Passes over the data (default 5; 1 with --db).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=2, help="Batch size (default 16; 32 with --db).")] = None,
    lr: LrOption = 2e-5,
    loss: LossOption = "mnrl",
    augment: AugmentOption = DEFAULT_AUGMENT,
    max_triplets: Annotated[Optional[int], typer.Option("--max-triplets", min=10, help="--db: at most this many triplets from the store (default 500).")] = None,
) -> None:
    """Train from the current embedder; switch to the result (new version + index) only if it retrieves better."""
    from rag.errors import ConfigError

    settings = settings_from_flags()
    if (data is None) == (db is None):
        raise ConfigError("retrain takes --data FILE (triplets) or --db NAME (a registered database's store)")
    if db is not None:
        from embedder.dbretrain import retrain_db

        db_result = retrain_db(settings, db, force=force, **({"max_triplets": max_triplets} if max_triplets else {}), epochs=epochs or 1, batch_size=batch_size or 32, lr=lr, log=_note)
        title = f"Retrieval of held-back questions of '{db}' among its store (template {settings.index.template})"
        out.print(_before_after_table(title, db_result.table(), "current", "candidate"))
        out.print(("[green]" if db_result.accepted else "[yellow]") + db_result.reason + "[/]")
        return
    from embedder.retrain import retrain

    result = retrain(settings, data, force=force, epochs=epochs or 5, batch_size=batch_size or 16, lr=lr, loss=loss, augment=_augment_kinds(augment), log=_note)
    out.print(_before_after_table(f"Retrieval on the bundled test split (template {settings.index.template})", result.table(), "current", "candidate"))
    out.print(("[green]" if result.accepted else "[yellow]") + result.reason + "[/]")
    if result.index:
        out.print(f"index rebuilt → {result.index}")
