"""A result as a CSV download: written to the server's private directory, the oldest pruned."""

from __future__ import annotations

import csv
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

KEEP_DOWNLOADS = 200  # CSV files kept in the private directory (older ones are removed)


def write_csv(directory: Path, columns: list[str], rows: list[list[Any]]) -> str | None:
    """The whole result (every fetched row, values uncut) as result.csv in a fresh folder; None without columns."""
    if not columns:
        return None
    root = directory / "results"
    root.mkdir(exist_ok=True)
    _prune(root)
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    path = folder / "result.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([["" if v is None else f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in row] for row in rows])
    return str(path)


_prune_lock = threading.Lock()


def _prune(root: Path) -> None:
    """Remove the oldest CSV folders beyond KEEP_DOWNLOADS, never one younger than a minute (a
    request may still be handing it to Gradio); one request prunes at a time."""
    if not _prune_lock.acquire(blocking=False):
        return
    try:
        folders = []
        for folder in root.iterdir():
            try:
                folders.append((folder.stat().st_mtime, folder))
            except OSError:
                continue
        if len(folders) <= KEEP_DOWNLOADS:
            return
        cutoff = time.time() - 60
        for mtime, folder in sorted(folders)[: len(folders) - KEEP_DOWNLOADS]:
            if mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        _prune_lock.release()


def download_update(path: str | None) -> Any:
    return gr.update(value=path, visible=path is not None)
