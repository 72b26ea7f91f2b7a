"""Synthetic (query, positive, negative) triplets for training the code embedder.

Four categories of retrieval tasks (text2code, code2text, code2code, hybrid; `synth.tasks`),
made by rules on the sqlglot AST (`synth.rules`, `synth.sql`) or by an LLM
(`synth.llm.TripletGenerator`), given hard negatives (`synth.mining`), curated (`synth.curate`)
and written as CSV + JSONL (`synth.triplets`). `coderag synth` runs the pipeline
(`synth.pipeline`); the reviewed default training set is `synth/data/curated_triplets.csv`.
"""

from synth.mining import (
    HardNegativeMiner,
    MinedNegative,
    MiningConfig,
    mine_hard_negatives,
)
from synth.triplets import Triplet, load_triplets, read_triplets, write_triplets

__all__ = [
    "HardNegativeMiner",
    "MinedNegative",
    "MiningConfig",
    "Triplet",
    "load_triplets",
    "mine_hard_negatives",
    "read_triplets",
    "write_triplets",
]
