"""Helpers shared by the embedder tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import csv
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRIPLETS = FIXTURES / "triplets.csv"
TINY_SHAPE = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "max_length": 48, "embedding_dim": 24}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def one_error_line(err: str) -> str:
    """The single `error:` line of a failed command (and no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]
