"""Triplet files for training: read, check and clean `query,pos,neg,...` rows.

The synthesis module writes CSV (and JSONL alongside) with the columns
`query,pos,neg,category,task_type,source`; only `query` and `pos` are required. Pair files from
the public-data loaders (`anchor,positive[,negative],source,split`) are read the same way. Rows with an
empty query or positive are dropped, exact duplicates are dropped, and both are counted so a
run can say what it skipped. A `neg` cell, when present, is used as a hard negative. Rows are
synthesis's own `Triplet` (`synth.triplets`, the one triplet model), re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import DataError
from synth.triplets import COLUMNS, Triplet, clean_text, read_rows

__all__ = ["Triplet", "TripletSet", "load_triplets"]

REQUIRED = ("query", "pos")
ALIASES = {"anchor": "query", "positive": "pos", "negative": "neg"}  # pair files from `embedder pairs`


@dataclass
class TripletSet:
    """Clean rows plus what was dropped on the way."""

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
        added = [r for r in rows if (r.query, r.pos, r.neg) not in seen and not seen.add((r.query, r.pos, r.neg))]
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


def load_triplets(path: str | Path, *, min_rows: int = 2) -> TripletSet:
    """Read and clean a triplet file; a file missing `query`/`pos` or with too few usable rows is a DataError."""
    path = Path(path)
    raw = read_rows(path)
    if not raw:
        raise DataError(f"triplet file {path} has no rows")
    raw = [{ALIASES.get(k, k): v for k, v in row.items()} for row in raw]
    present = set().union(*(row.keys() for row in raw))
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        found = ", ".join(sorted(str(c) for c in present)) or "none"
        raise DataError(f"triplet file {path} lacks column(s) {', '.join(missing)} (found: {found}; need query,pos[,neg])")
    seen: set[tuple[str, str, str]] = set()
    rows: list[Triplet] = []
    empty = duplicates = 0
    for row in raw:
        values = {c: clean_text(row.get(c)) for c in COLUMNS}
        if not values["query"] or not values["pos"]:
            empty += 1
            continue
        key = (values["query"], values["pos"], values["neg"])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(Triplet(**values))
    if len(rows) < min_rows:
        raise DataError(
            f"triplet file {path} has {len(rows)} usable row(s) of {len(raw)} "
            f"({empty} empty, {duplicates} duplicate); at least {min_rows} are needed"
        )
    return TripletSet(path=path, rows=rows, read=len(raw), empty=empty, duplicates=duplicates)
