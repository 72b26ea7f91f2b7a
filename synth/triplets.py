"""The one triplet model and its files: CSV `query,pos,neg,category,task_type,source`, JSONL alongside.

The CSV is what people read and what the embedder trainer loads; the JSONL next to it carries
the same rows plus every hard negative, the task instruction and generation metadata (judge
verdict, how the negative was found, consistency rank). `load_triplets` reads and cleans either
file (or a pair file with `anchor,positive[,negative]`) into a `TripletSet` of the same `Triplet`,
which the trainers use and `TripletSet.to_dataset` turns into the `anchor, positive, negative`
dataset sentence-transformers trains on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import DataError
from rag.io import read_csv, read_jsonl, write_jsonl_atomic, write_text_atomic

COLUMNS: tuple[str, ...] = ("query", "pos", "neg", "category", "task_type", "source")


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
        meta = row.get("meta")
        return cls.from_values(
            values, negatives=[str(n) for n in row.get("negatives") or []], meta=dict(meta) if isinstance(meta, dict) else {}
        )

    @classmethod
    def from_values(cls, values: Mapping[str, str], **extra: Any) -> Triplet:
        """A triplet from its cleaned text columns (`COLUMNS`), plus any other fields by keyword."""
        return cls(values["query"], values["pos"], values["neg"], values["category"], values["task_type"], values["source"], **extra)


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


REQUIRED = ("query", "pos")
ALIASES = {"anchor": "query", "positive": "pos", "negative": "neg"}  # pair files and sentence-transformers' columns


@dataclass
class TripletSet:
    """Clean rows of a triplet file plus what was dropped on the way."""

    path: Path
    rows: list[Triplet]
    read: int
    empty: int = 0
    duplicates: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def with_negatives(self) -> list[Triplet]:
        return [r for r in self.rows if r.neg]

    @property
    def without_negatives(self) -> list[Triplet]:
        return [r for r in self.rows if not r.neg]

    def extend(self, rows: list[Triplet], label: str) -> int:
        """Append rows that are not already present (by query, pos, neg); counts them under `label`."""
        seen = {(r.query, r.pos, r.neg) for r in self.rows}
        added: list[Triplet] = []
        for r in rows:
            key = (r.query, r.pos, r.neg)
            if key not in seen:
                seen.add(key)
                added.append(r)
        self.rows.extend(added)
        self.extra[label] = self.extra.get(label, 0) + len(added)
        return len(added)

    def fingerprint(self) -> str:
        """A short content hash of the cleaned rows (order-sensitive), stored with the model."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(json.dumps([row.query, row.pos, row.neg], ensure_ascii=False).encode())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path.resolve()),
            "rows_read": self.read,
            "rows_used": len(self.rows),
            "with_negative": len(self.with_negatives),
            "dropped_empty": self.empty,
            "dropped_duplicate": self.duplicates,
            "fingerprint": self.fingerprint(),
            **self.extra,
        }

    def to_dataset(self) -> Any:
        """A `datasets.Dataset` with columns anchor, positive, negative, ready for sentence-transformers."""
        import datasets

        return datasets.Dataset.from_dict(
            {"anchor": [r.query for r in self.rows], "positive": [r.pos for r in self.rows], "negative": [r.neg for r in self.rows]}
        )


def load_triplets(path: str | Path, *, min_rows: int = 2, strict: bool = False) -> TripletSet:
    """Read and clean a triplet file: the synthesis CSV/JSONL (query, pos[, neg]) or a file with
    anchor, positive[, negative] (pair files, sentence-transformers' columns).

    Rows with an empty query or positive are dropped, exact duplicates too, and both are counted.
    `strict` (a file to train on as triplets): every row needs all three non-empty and a positive
    that differs from the anchor and the negative, and the first bad row is a DataError naming its
    line. A missing file, another format, missing columns or fewer than `min_rows` usable rows is a
    DataError.
    """
    path = Path(path)
    raw = read_rows(path)
    if not raw:
        raise DataError(f"triplet file {path} has no rows")
    raw = [{ALIASES.get(k, k): v for k, v in row.items()} for row in raw]
    present = set().union(*(row.keys() for row in raw))
    required = (*REQUIRED, "neg") if strict else REQUIRED
    missing = [c for c in required if c not in present]
    if missing:
        found = ", ".join(sorted(str(c) for c in present)) or "none"
        raise DataError(f"triplet file {path} lacks column(s) {', '.join(missing)} (found: {found}; need {','.join(required)})")
    seen: set[tuple[str, str, str]] = set()
    rows: list[Triplet] = []
    empty = duplicates = 0
    for number, row in enumerate(raw, 2 if path.suffix.lower() == ".csv" else 1):
        values = {c: clean_text(row.get(c)) for c in COLUMNS}
        if strict:
            _check_strict(path, number, values["query"], values["pos"], values["neg"])
        if not values["query"] or not values["pos"]:
            empty += 1
            continue
        key = (values["query"], values["pos"], values["neg"])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(Triplet.from_values(values))
    if len(rows) < min_rows:
        raise DataError(
            f"triplet file {path} has {len(rows)} usable row(s) of {len(raw)} "
            f"({empty} empty, {duplicates} duplicate); at least {min_rows} are needed"
        )
    return TripletSet(path=path, rows=rows, read=len(raw), empty=empty, duplicates=duplicates)


def _check_strict(path: Path, number: int, anchor: str, positive: str, negative: str) -> None:
    if not (anchor and positive and negative):
        empty = [n for n, v in zip(("query", "pos", "neg"), (anchor, positive, negative)) if not v]
        raise DataError(f"{path}:{number}: empty {', '.join(empty)}")
    if positive == negative or positive == anchor:
        raise DataError(f"{path}:{number}: the positive repeats the {'negative' if positive == negative else 'anchor'}")


def clean_text(value: Any) -> str:
    """A cell as stripped text; None and NaN (from pandas-written CSVs) are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()
