"""Shared test data for the synthesis tests (imported by conftest and test modules)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.corpus import Example

SHOP = (
    "CREATE TABLE products (product_id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL, stock INTEGER); "
    "INSERT INTO products VALUES (1, 'Desk', 'furniture', 120.0, 4), (2, 'Chair', 'furniture', 45.5, 0), "
    "(3, 'Lamp', 'lighting', 19.9, 12), (4, 'Bulb', 'lighting', 2.5, 100), (5, 'Shelf', 'furniture', 60.0, 3); "
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, product_id INTEGER, quantity INTEGER, channel TEXT); "
    "INSERT INTO orders VALUES (1, 1, 1, 'online'), (2, 3, 2, 'store'), (3, 3, 5, 'online'), (4, 4, 10, 'store'), (5, 2, 2, 'online');"
)


def shop_example(i: int, question: str, sql: str, explanation: str = "") -> Example:
    return Example(
        id=str(i),
        question=question,
        sql=sql,
        db_id=f"shop-{i}",
        context=SHOP,
        source="test",
        meta={"sql_explanation": explanation, "domain": "retail"},
    )


class ToyEncoder:
    """Bag-of-words hashed into 64 dimensions, L2-normalised: similar words, similar vectors."""

    name = "toy"
    fingerprint = "toy-encoder"
    dimension = 64

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        out += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "synth"


@dataclass(frozen=True)
class GoldenCase:
    """One block of a golden .sql file: its `-- key: value` lines and its SQL lines (one query a line)."""

    fields: dict[str, str]
    sql: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.fields.get("case") or next(iter(self.fields.values()))


def golden_cases(name: str) -> list[GoldenCase]:
    """The cases of tests/fixtures/synth/NAME: blocks separated by blank lines; a block without
    SQL lines (the file's own description) is skipped."""
    cases = []
    for block in (GOLDEN / name).read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        fields = dict(line.removeprefix("-- ").split(": ", 1) for line in lines if line.startswith("-- ") and ": " in line)
        sql = tuple(line for line in lines if not line.startswith("--"))
        if sql:
            cases.append(GoldenCase(fields, sql))
    return cases
