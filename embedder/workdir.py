"""Output directories for trained models: where they go, and how they appear atomically.

A run works in `.NAME.partial/` next to its target (checkpoints live there, so an interrupted
run can resume) and only renames the finished model to `NAME` at the end, so a crash never
leaves a half-written model where a loader would pick it up. The rename is rag.publish's one
atomic directory publish (`publish_directory`).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from rag.errors import ConfigError
from rag.settings import Settings


def resolve_out(settings: Settings, out: str | Path | None, prefix: str) -> Path:
    """A bare name goes under settings.models_dir; a path (with a separator) is used as given."""
    if out is None or str(out) == "":
        return settings.models_dir / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    text = str(out)
    path = Path(text).expanduser()
    if path.is_absolute() or os.sep in text or "/" in text:
        return path.resolve()
    return settings.models_dir / text


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def prepare_run(out: Path, *, overwrite: bool, resume: bool) -> Path:
    """Check the target and return the run's working directory; writes nothing (see `start_run`)."""
    work = partial_dir(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists", hint="pass --overwrite to replace it, or choose another --out")
    if resume:
        if not work.is_dir():
            raise ConfigError(f"nothing to resume: no interrupted run at {work}")
    elif work.exists() and not overwrite:
        raise ConfigError(f"an interrupted run exists at {work}", hint="pass --resume to continue it, or --overwrite to start over")
    return work


def start_run(work: Path, *, resume: bool) -> None:
    """Create the working directory (a fresh one unless resuming), once the inputs have loaded."""
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
