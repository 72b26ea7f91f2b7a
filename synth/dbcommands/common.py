"""What the `db` commands share: the consoles, a registered database by name, and bringing the index
(and a database's linking) up to date after a store changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

out = Console()
err = Console(stderr=True)


def registration_of(home: Path, name: str):
    """The database registered as `name`; a one-line DatabaseError naming the registered ones otherwise."""
    from rag.errors import DatabaseError
    from rag.registry import Registry

    registration = Registry(home).get(name)
    if registration is None:
        known = ", ".join(r.name for r in Registry(home).all()) or "none"
        raise DatabaseError(
            f"no registered database '{name}' (registered: {known})", hint="register one with: coderag db add PATH --name NAME"
        )
    return registration


def refresh_index(settings, *, show_progress: bool, linking: Any = None) -> None:
    """Bring the default index up to date with every store (only changed documents are embedded);
    with `linking` (a DatabaseRef), also read that database's description and value index and embed
    its tables for linking (kept in `$CODERAG_HOME/links/`), so its first question does not wait."""
    from rag.wiring import encoder_and_index

    encoder, _ = encoder_and_index(settings, "default", show_progress=show_progress)
    if linking is not None and settings.linking.enabled:
        _prepare_linking(settings, linking, encoder, show_progress=show_progress)


def _prepare_linking(settings, ref: Any, encoder: Any, *, show_progress: bool) -> None:
    from tqdm.auto import tqdm

    from rag.linking import Linker

    def bar(label: str) -> Any:
        return lambda items: tqdm(
            items, desc=label, unit="table" if "tables" in label else "column", disable=not show_progress, leave=False
        )

    with ref.open(settings) as database:
        linker = Linker.of(
            database,
            settings.linking,
            encoder,
            cache_dir=settings.home / "links",
            describing=bar("describing tables"),
            indexing=bar("indexing values"),
        )
    linker.prepare()
    schema, values = linker.schema, linker.values
    bound = f" (bounded: {values.truncated})" if values.truncated else ""
    err.print(
        f"linking: {len(schema.tables)} tables, {len(schema.foreign_keys)} keys, {len(values):,} distinct values indexed{bound}",
        highlight=False,
    )
