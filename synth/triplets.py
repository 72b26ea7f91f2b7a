"""The one triplet model and its files: CSV `query,pos,neg,category,task_type,source`, JSONL alongside.

The CSV is what people read and what the embedder trainer loads; the JSONL next to it carries
the same rows plus every hard negative, the task instruction and generation metadata (judge
verdict, how the negative was found, consistency rank). `load_triplets` turns either file into
the `anchor, positive, negative` dataset sentence-transformers trains on; the embedder's
cleaning loader (`embedder.triplets`) reads the same rows into the same `Triplet`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import DataError
from rag.io import read_csv, read_jsonl, write_jsonl_atomic, write_text_atomic

COLUMNS: tuple[str, ...] = ("query", "pos", "neg", "category", "task_type", "source")
TRAINER_COLUMNS: tuple[str, ...] = ("anchor", "positive", "negative")


@dataclass
class Triplet:
    """One (query, positive, negative) row. `negatives` holds every hard negative, `neg` the first
    (given only `neg`, `negatives` starts as `[neg]`); a pair has no negative.

    `meta` is written to the JSONL file; `work` holds what later stages need in memory only
    (the positive's SQLite form and database script, for execution-equivalence checks).
    """

    query: str
    pos: str
    neg: str = ""
    category: str = ""
    task_type: str = ""
    source: str = ""
    negatives: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    work: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.neg and not self.negatives:
            self.negatives = [self.neg]

    def set_negatives(self, negatives: list[str], origin: str) -> None:
        self.negatives = list(dict.fromkeys(n for n in negatives if n))
        self.neg = self.negatives[0] if self.negatives else ""
        self.meta["neg_origin"] = origin if self.negatives else None

    def row(self) -> dict[str, str]:
        return {column: getattr(self, column) for column in COLUMNS}

    def to_json(self) -> dict[str, Any]:
        return {**self.row(), "negatives": self.negatives, "meta": self.meta}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Triplet:
        """A row of a triplet file (CSV columns, plus `negatives` and `meta` from JSONL)."""
        values = {c: clean_text(row.get(c)) for c in COLUMNS}
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        return cls(negatives=[str(n) for n in row.get("negatives") or []], meta=dict(meta), **values)


def jsonl_path(csv_path: Path) -> Path:
    return csv_path.with_suffix(".jsonl")


def write_triplets(triplets: list[Triplet], path: str | Path) -> tuple[Path, Path]:
    """Write the CSV at `path` (a .csv) and the JSONL alongside it, each atomically."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise DataError(f"triplet output must be a .csv file (the .jsonl is written alongside): {path}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(t.row() for t in triplets)
    write_text_atomic(path, buffer.getvalue())
    write_jsonl_atomic(jsonl_path(path), (t.to_json() for t in triplets))
    return path, jsonl_path(path)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Raw rows of a triplet file: CSV, or JSONL (`.jsonl`, `.json`); a missing file or another format is a DataError."""
    if not path.is_file():
        raise DataError(f"triplet file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return list(read_jsonl(path))
    if suffix == ".csv":
        return read_csv(path)
    raise DataError(f"unsupported triplet file type '{path.suffix}' (use .csv or .jsonl)")


def read_triplets(path: str | Path) -> list[Triplet]:
    """Rows of a triplet CSV or JSONL file; a missing file, another format or missing columns is a DataError."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise DataError(f"triplet file {path} has no rows")
    missing = [c for c in ("query", "pos") if c not in rows[0]]
    if missing:
        raise DataError(f"triplet file {path} lacks column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
    return [Triplet.from_row(row) for row in rows]


def read_triplets_with_meta(path: str | Path) -> list[Triplet]:
    """Like `read_triplets`, but a CSV whose JSONL alongside holds the same rows is read from the
    JSONL, so negatives and metadata survive (the review command rewrites both files)."""
    path = Path(path)
    rows = read_triplets(path)
    sidecar = jsonl_path(path)
    if path.suffix.lower() == ".csv" and sidecar.is_file():
        try:
            richer = read_triplets(sidecar)
        except DataError:
            return rows
        if [r.row() for r in richer] == [r.row() for r in rows]:
            return richer
    return rows


def load_triplets(path: str | Path) -> Any:
    """A `datasets.Dataset` with columns anchor, positive, negative, ready for sentence-transformers.

    Accepts the synthesis CSV/JSONL (query, pos, neg) or a file that already has anchor,
    positive, negative. Every row needs all three non-empty, and the positive must differ from
    the anchor and the negative; the first bad row is reported as a DataError.
    """
    import datasets

    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise DataError(f"triplet file {path} has no rows")
    names = ("query", "pos", "neg") if all(c in rows[0] for c in ("query", "pos", "neg")) else TRAINER_COLUMNS
    missing = [c for c in names if c not in rows[0]]
    if missing:
        raise DataError(f"triplet file {path} lacks column(s) {', '.join(missing)} (need query,pos,neg or anchor,positive,negative)")
    columns: dict[str, list[str]] = {c: [] for c in TRAINER_COLUMNS}
    for number, row in enumerate(rows, 2 if path.suffix.lower() == ".csv" else 1):
        anchor, positive, negative = (clean_text(row.get(c)) for c in names)
        if not (anchor and positive and negative):
            empty = [n for n, v in zip(names, (anchor, positive, negative)) if not v]
            raise DataError(f"{path}:{number}: empty {', '.join(empty)}")
        if positive == negative or positive == anchor:
            raise DataError(f"{path}:{number}: the positive repeats the {'negative' if positive == negative else 'anchor'}")
        columns["anchor"].append(anchor)
        columns["positive"].append(positive)
        columns["negative"].append(negative)
    return datasets.Dataset.from_dict(columns)


def clean_text(value: Any) -> str:
    """A cell as stripped text; None and NaN (from pandas-written CSVs) are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()
