"""`coderag embedder list | use` and `coderag retrain`: the registered retriever versions, which one
serves, and retraining that switches only when the new one retrieves better."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedder.commands.common import DEFAULT_AUGMENT, AugmentOption, LossOption, LrOption, augment_kinds, before_after_table, note, out
from rag.options import JsonOption, settings_from_flags


def list_versions(as_json: JsonOption = False) -> None:
    """Registered embedder versions (the current one marked); `shipped` is the model in the package.

    Example: coderag embedder list"""
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


def use(version: Annotated[str, typer.Argument(help="A registered version (v1, v2, ...) or 'shipped'.")]) -> None:
    """Switch the current embedder version (exported to ONNX first when serving needs it; its index is built on first use).

    Example: coderag embedder use v2"""
    from embedder.onnx_export import ensure_export
    from embedder.registry import set_current
    from rag.models import DEFAULT_MODEL, find_version, read_registry

    settings = settings_from_flags()
    entry = find_version(read_registry(settings.models_dir), version) if version != DEFAULT_MODEL else None
    if entry is not None:
        ensure_export(entry["path"], settings.embedder.backend, settings.models_dir, log=note)
    set_current(settings.models_dir, version)
    out.print(f"current embedder: {version}")


def retrain_command(
    data: Annotated[Path | None, typer.Option("--data", help="New triplets (CSV or JSONL).")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Adapt to this registered database's own examples instead (see `coderag db add`).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Switch to the new model even if it is not better.")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Passes over the data (default 5; 1 with --db).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=2, help="Batch size (default 16; 32 with --db).")] = None,
    lr: LrOption = 2e-5,
    loss: LossOption = "mnrl",
    augment: AugmentOption = DEFAULT_AUGMENT,
    max_triplets: Annotated[
        int | None, typer.Option("--max-triplets", min=10, help="--db: at most this many triplets from the store (default 500).")
    ] = None,
) -> None:
    """Train from the current embedder; switch to the result (new version + index) only if it retrieves better.

    Example: coderag retrain --db shop"""
    from rag.errors import ConfigError

    settings = settings_from_flags()
    if (data is None) == (db is None):
        raise ConfigError("retrain takes --data FILE (triplets) or --db NAME (a registered database's store)")
    if db is not None:
        from embedder.dbretrain import DEFAULT_MAX_TRIPLETS, retrain_db

        db_result = retrain_db(
            settings,
            db,
            force=force,
            max_triplets=max_triplets or DEFAULT_MAX_TRIPLETS,
            epochs=epochs or 1,
            batch_size=batch_size or 32,
            lr=lr,
            log=note,
        )
        title = f"Retrieval of held-back questions of '{db}' among its store (template {settings.index.template})"
        out.print(before_after_table(title, db_result.table(), "current", "candidate"))
        out.print(("[green]" if db_result.accepted else "[yellow]") + db_result.reason + "[/]")
        return
    from embedder.retrain import retrain

    assert data is not None  # --data or --db, checked above
    result = retrain(
        settings,
        data,
        force=force,
        epochs=epochs or 5,
        batch_size=batch_size or 16,
        lr=lr,
        loss=loss,
        augment=augment_kinds(augment),
        log=note,
    )
    out.print(
        before_after_table(
            f"Retrieval on the bundled test split (template {settings.index.template})", result.table(), "current", "candidate"
        )
    )
    out.print(("[green]" if result.accepted else "[yellow]") + result.reason + "[/]")
    if result.index:
        out.print(f"index rebuilt → {result.index}")
