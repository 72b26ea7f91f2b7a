"""`coderag embedder finetune | train-scratch` (and the old name `train`): train a retriever, register it as a version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from embedder.commands.common import (
    DEFAULT_AUGMENT,
    AugmentOption,
    EpochsOption,
    EvalDataOption,
    LossOption,
    LrOption,
    MaxLengthOption,
    ModelOutOption,
    NoEvalOption,
    OverwriteOption,
    ResumeOption,
    SaveStepsOption,
    SeedOption,
    TemperatureOption,
    TrainBatchSizeOption,
    TrainDataOption,
    augment_kinds,
    before_after_table,
    note,
    out,
    print_saved,
)
from rag.errors import ConfigError
from rag.options import JsonOption, TemplateOption, settings_from_flags


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
    """Fine-tune a sentence-transformers embedder on triplets (retrieval metrics before and after).

    Example: coderag embedder finetune --data all_triplets.csv --epochs 1 --out my-embedder"""
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
        note(
            f"training on {train_data}"
            + (" (the triplets `coderag synth` wrote last)" if train_data != DEFAULT_DATA else " (the shipped curated triplets)")
        )
    config = FinetuneConfig(
        data=train_data,
        out=target,
        base=base,
        loss=loss,  # type: ignore[arg-type]
        augment=augment_kinds(augment),
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
    result = run_finetune(settings, config, log=note)
    if not as_json:
        for key, title in (("bundled", f"bundled test split, template {template_name}"), ("eval_data", f"--eval-data {eval_data}")):
            if key in result.before and key in result.after:
                out.print(before_after_table(f"Retrieval: {title}", compare(result.before[key], result.after[key])))
    print_saved(target, result.metadata, as_json)
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


def train_scratch(
    data: TrainDataOption = None,
    tokenizer: Annotated[Path | None, typer.Option("--tokenizer", help="Tokenizer directory from `embedder tokenizer`.")] = None,
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
    """Train a BERT-style encoder from random weights (GPU; several with torchrun, see embedder/train_scratch.py).

    Example: coderag embedder train-scratch --tokenizer my-tokenizer --data all_triplets.csv --out my-scratch"""
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
    metadata = train(settings, config, log=note)
    if metadata:  # under torchrun only the first process writes the model
        print_saved(target, metadata, as_json)


def train_alias(ctx: typer.Context) -> None:
    """The old name: `train` runs `finetune`, `train --from-scratch` runs `train-scratch` (same options)."""
    args = [arg for arg in ctx.args if arg != "--from-scratch"]
    name = "train-scratch" if len(args) < len(ctx.args) else "finetune"
    assert ctx.parent is not None  # a subcommand always has its group's context
    group = ctx.parent.command  # the `embedder` group
    assert isinstance(group, TyperGroup)
    command = group.get_command(ctx.parent, name)
    assert command is not None  # both names are commands of the group
    with command.make_context(name, args, parent=ctx.parent) as target:
        command.invoke(target)
