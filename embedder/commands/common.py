"""What the embedder commands share: the consoles, the options several of them take (declared once;
defaults live in each signature) and how they print progress, saved models and before/after tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)

DEFAULT_AUGMENT = "skeleton,same_skeleton"

# -- options shared by several commands (declared once; defaults live in each signature) --------------
ModelOption = Annotated[str, typer.Option("--model", help="bundled or a model directory.")]
TrainDataOption = Annotated[
    list[Path] | None,
    typer.Option("--data", help="Triplet/pair CSV or JSONL (default: synth/data/curated_triplets.csv); train-scratch takes several."),
]
ModelOutOption = Annotated[
    str | None, typer.Option("--out", help="Model directory: a bare NAME goes under the models dir (default: a timestamped name).")
]
EpochsOption = Annotated[int, typer.Option("--epochs", min=1)]
TrainBatchSizeOption = Annotated[int, typer.Option("--batch-size", min=2, help="Rows per batch (the other rows are in-batch negatives).")]
LrOption = Annotated[float, typer.Option("--lr", help="Peak learning rate.")]
LossOption = Annotated[str, typer.Option("--loss", help="mnrl | cached-mnrl | symmetric")]
AugmentOption = Annotated[str, typer.Option("--augment", help="Structure augmentation: skeleton,same_skeleton | none (docs/training.md).")]
EvalDataOption = Annotated[Path | None, typer.Option("--eval-data", help="Held-out triplets: retrieval metrics on them too.")]
NoEvalOption = Annotated[bool, typer.Option("--no-eval", help="Skip the bundled retrieval metrics.")]
SaveStepsOption = Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps, for --resume.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out (and discard an interrupted run).")]
MaxLengthOption = Annotated[int, typer.Option("--max-length", min=8, help="Maximum sequence length in tokens.")]
TemperatureOption = Annotated[float, typer.Option("--temperature", min=1e-4, help="Softmax temperature.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.")]


def note(message: str) -> None:
    err.print(f"[dim]{message}[/]", highlight=False)


def augment_kinds(value: str) -> tuple[str, ...]:
    return () if value.strip().lower() in ("", "none") else tuple(k.strip() for k in value.split(",") if k.strip())


def before_after_table(title: str, rows: list[tuple[str, float, float, float]], before: str = "before", after: str = "after") -> Table:
    table = Table(title=title)
    for column in ("metric", before, after, "Δ"):
        table.add_column(column, justify="right")
    for metric, b, a, delta in rows:
        colour = "green" if delta > 0 else "red" if delta < 0 else "dim"
        table.add_row(metric, f"{b:.4f}", f"{a:.4f}", f"[{colour}]{delta:+.4f}[/]")
    return table


def print_saved(target: Path, metadata: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(metadata, default=str))
    else:
        out.print(f"saved {target} ({metadata['steps']} steps in {metadata['train_seconds']:.0f} s); load it with --embedder {target}")
