"""Fixtures for the embedder tests: the triplet fixture, a tiny tokenizer and a tiny from-scratch
model (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedder_testing import TINY_SHAPE, TRIPLETS


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-token WordPiece tokenizer trained on the bundled corpus."""
    from embedder.tokenizer import bundled_texts, train_tokenizer

    return train_tokenizer(bundled_texts(), tmp_path_factory.mktemp("tok") / "tokenizer", vocab_size=400, max_length=48)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Path, coderag_home: Path) -> Path:
    """A tiny from-scratch encoder trained for a few steps, saved as a sentence-transformers directory."""
    from embedder.scratch import ScratchConfig
    from embedder.train_scratch import ScratchTrainConfig, train
    from rag.settings import load_settings

    out = tmp_path_factory.mktemp("scratch") / "tiny"
    train(
        load_settings(home=coderag_home),
        ScratchTrainConfig(
            data=[TRIPLETS],
            tokenizer=tiny_tokenizer,
            out=out,
            model=ScratchConfig(**TINY_SHAPE),
            batch_size=8,
            warmup_steps=2,
            max_steps=6,
            save_every=0,
            eval_every=0,
            show_progress=False,
        ),
        log=lambda _: None,
    )
    return out
