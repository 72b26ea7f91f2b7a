"""Synthetic (query, positive, negative) triplets for training the code embedder.

Four categories of retrieval tasks (text2code, code2text, code2code, hybrid; `synth.tasks`),
made by rules on the sqlglot AST (`synth.rules`, `synth.sql`) or by an LLM
(`synth.llm.TripletGenerator`), given hard negatives (`synth.mining`), curated (`synth.curate`)
and written as CSV + JSONL (`synth.triplets`). `coderag synth` runs the pipeline
(`synth.pipeline`); the reviewed default training set is `synth/data/curated_triplets.csv`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names re-exported lazily: the root command imports synth.cli at start, and `coderag --help`
# should not pay for numpy and sqlglot (synth.mining pulls both in).
_EXPORTS = {
    "HardNegativeMiner": "synth.mining",
    "MinedNegative": "synth.mining",
    "MiningConfig": "synth.mining",
    "mine_hard_negatives": "synth.mining",
    "Triplet": "synth.triplets",
    "TripletSet": "synth.triplets",
    "load_triplets": "synth.triplets",
    "read_triplets": "synth.triplets",
    "write_triplets": "synth.triplets",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'synth' has no attribute {name!r}")
