"""From-scratch training: tokenizer, model, loss, schedule, the loop (tiny configs on CPU), resume, NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from embedder_testing import TINY_SHAPE, TRIPLETS, one_error_line

from embedder import train_scratch
from embedder.scratch import (
    ScratchConfig,
    ScratchEncoder,
    contrastive_loss,
    save_sentence_transformer,
)
from embedder.train_scratch import (
    Batches,
    ScratchTrainConfig,
    choose_device,
    learning_rate,
    pick_device,
    train,
)
from rag.errors import ConfigError, DataError, ModelError
from synth.triplets import load_triplets


def test_tokenizer_loads_with_transformers_and_keeps_case(tiny_tokenizer: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("SELECT name FROM t")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "SELECT" in tokens
    assert tokenizer.pad_token == "[PAD]" and tokenizer.model_max_length == 48


def test_tokenizer_cli_reads_files_and_refuses_to_overwrite(coderag, tmp_path: Path) -> None:
    source = tmp_path / "code"
    source.mkdir()
    (source / "a.py").write_text("def add(a, b):\n    return a + b\n" * 20)
    (source / "q.sql").write_text("SELECT id FROM users WHERE id > 3;\n" * 20)
    out = tmp_path / "tok"
    code, stdout, stderr = coderag(
        "embedder", "tokenizer", "--input", str(source), "--input", str(TRIPLETS), "--vocab-size", "300", "--out", str(out)
    )
    assert code == 0, stderr
    assert "saved tokenizer" in stdout
    assert (out / "tokenizer.json").is_file()
    code, _, stderr = coderag("embedder", "tokenizer", "--input", str(source), "--out", str(out))
    assert code == 2 and "already exists" in one_error_line(stderr)
    code, _, stderr = coderag("embedder", "tokenizer", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "t2"))
    assert code == 3 and "not found" in one_error_line(stderr)


def test_contrastive_loss() -> None:
    torch.manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    aligned = contrastive_loss(queries, queries)
    shuffled = contrastive_loss(queries, queries.roll(1, dims=0))
    assert aligned < shuffled
    negatives = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    assert torch.equal(contrastive_loss(queries, queries, negatives, hard_negative_weight=0.0), aligned)
    assert contrastive_loss(queries, queries, negatives, hard_negative_weight=1.0) > aligned
    # symmetric: swapping queries and documents gives the same in-batch loss
    docs = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    assert torch.allclose(contrastive_loss(queries, docs), contrastive_loss(docs, queries))


def test_learning_rate_warms_up_then_decays_to_a_tenth() -> None:
    config = ScratchTrainConfig(data=[], tokenizer=Path("."), out=Path("."), lr=1e-3, warmup_steps=10, max_steps=110)
    assert learning_rate(0, config) == pytest.approx(1e-4)
    assert learning_rate(9, config) == pytest.approx(1e-3)
    assert learning_rate(60, config) == pytest.approx(1e-3 * 0.55)
    assert learning_rate(110, config) == pytest.approx(1e-4)


@pytest.mark.slow  # trains a small model with torch
def test_saved_model_matches_the_trained_module(tmp_path: Path, tiny_tokenizer: Path) -> None:
    """The sentence-transformers directory (BertModel + Pooling + Dense + Normalize) embeds exactly like the module."""
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = ScratchEncoder(ScratchConfig(vocab_size=400, **TINY_SHAPE)).eval()
    out = tmp_path / "st"
    out.mkdir()
    save_sentence_transformer(model, tiny_tokenizer, out)
    texts = ["SELECT a FROM t", "how many orders were shipped late in March?", "x"]
    batches = Batches(load_triplets(TRIPLETS), tiny_tokenizer, 48, 4, 0, 0, 1)
    with torch.no_grad():
        expected = model(*batches.encode(texts, torch.device("cpu"))).numpy()
    loaded = SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(loaded, expected, atol=1e-5)
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Dense", "Normalize"]


def test_tiny_model_trains_and_loads_as_an_encoder(tiny_model: Path) -> None:
    from rag.encoders import load_encoder

    meta = json.loads((tiny_model / "training.json").read_text())
    assert meta["kind"] == "from-scratch" and meta["steps"] == 6 and meta["model"]["hidden"] == 32
    encoder = load_encoder(str(tiny_model))
    vectors = encoder.encode(["SELECT 1", "list the customers"])
    assert vectors.shape == (2, 24) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _config(tmp_path: Path, tokenizer: Path, **overrides) -> ScratchTrainConfig:
    values = dict(
        data=[TRIPLETS],
        tokenizer=tokenizer,
        out=tmp_path / "m",
        model=ScratchConfig(**TINY_SHAPE),
        batch_size=8,
        warmup_steps=2,
        max_steps=6,
        save_every=2,
        eval_every=0,
        show_progress=False,
    )
    return ScratchTrainConfig(**{**values, **overrides})


@pytest.mark.slow  # trains a small model with torch, twice
def test_nan_loss_keeps_the_checkpoint_and_resume_finishes(
    settings, tmp_path: Path, tiny_tokenizer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_loss, calls = train_scratch.contrastive_loss, []

    def nan_from_step_5(*args, **kwargs):
        calls.append(1)
        loss = real_loss(*args, **kwargs)
        return loss * math.nan if len(calls) >= 5 else loss

    monkeypatch.setattr(train_scratch, "contrastive_loss", nan_from_step_5)
    with pytest.raises(ModelError, match=r"loss became nan at step 5; last good checkpoint kept at .*checkpoint.pt"):
        train(settings, _config(tmp_path, tiny_tokenizer), log=lambda _: None)
    checkpoint = tmp_path / ".m.partial" / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["step"] == 4 and not (tmp_path / "m").exists()

    monkeypatch.undo()
    messages: list[str] = []
    meta = train(settings, _config(tmp_path, tiny_tokenizer, resume=True, eval_every=5), log=messages.append)
    assert any("resumed" in m and "step 4" in m for m in messages)
    assert meta["steps"] == 6 and [h["step"] for h in meta["history"]] == [5]
    assert math.isfinite(meta["history"][0]["loss"])  # the loss of the evaluated step, though not a logging step
    assert {"recall@3", "mrr@10"} <= set(meta["metrics"]["after"]["bundled"])
    assert (tmp_path / "m" / "modules.json").is_file() and not checkpoint.exists()


def test_resume_with_another_shape_is_refused(settings, tmp_path: Path, tiny_tokenizer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_loss, calls = train_scratch.contrastive_loss, []

    def inf_from_step_3(*args, **kwargs):
        calls.append(1)
        return real_loss(*args, **kwargs) * (math.inf if len(calls) >= 3 else 1.0)

    monkeypatch.setattr(train_scratch, "contrastive_loss", inf_from_step_3)
    with pytest.raises(ModelError, match="loss became inf"):
        train(settings, _config(tmp_path, tiny_tokenizer, save_every=1), log=lambda _: None)
    monkeypatch.undo()
    other = ScratchConfig(**{**TINY_SHAPE, "hidden": 64})
    with pytest.raises(ConfigError, match="another model shape"):
        train(settings, _config(tmp_path, tiny_tokenizer, model=other, resume=True), log=lambda _: None)


def test_bad_inputs(settings, tmp_path: Path, tiny_tokenizer: Path) -> None:
    with pytest.raises(DataError, match="no training data"):
        train(settings, _config(tmp_path, tiny_tokenizer, data=[]), log=lambda _: None)
    with pytest.raises(ConfigError, match="not a tokenizer directory"):
        train(settings, _config(tmp_path, tmp_path), log=lambda _: None)
    assert not (tmp_path / "m").exists() and not (tmp_path / ".m.partial").exists()


def test_cli_needs_a_tokenizer_and_runs_tiny(coderag, tmp_path: Path, tiny_tokenizer: Path) -> None:
    code, _, stderr = coderag("embedder", "train-scratch", "--data", str(TRIPLETS), "--out", str(tmp_path / "x"))
    assert code == 2 and "--tokenizer" in one_error_line(stderr)
    out = tmp_path / "cli"
    code, stdout, stderr = coderag(
        "embedder",
        "train-scratch",
        "--tokenizer",
        str(tiny_tokenizer),
        "--data",
        str(TRIPLETS),
        "--data",
        str(TRIPLETS),
        "--hidden",
        "32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--ffn",
        "64",
        "--max-length",
        "48",
        "--dim",
        "16",
        "--batch-size",
        "8",
        "--max-steps",
        "3",
        "--warmup-steps",
        "1",
        "--no-eval",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, stderr
    meta = json.loads(stdout)
    assert meta["steps"] == 3 and meta["model"]["embedding_dim"] == 16 and meta["data"]["rows_used"] == 32


def test_old_train_from_scratch_runs_train_scratch(coderag, tmp_path: Path) -> None:
    """`embedder train --from-scratch` (the old spelling) still reaches the from-scratch trainer."""
    code, _, stderr = coderag("embedder", "train", "--data", str(TRIPLETS), "--from-scratch", "--out", str(tmp_path / "x"))
    assert code == 2 and "train-scratch needs --tokenizer" in one_error_line(stderr)


def test_cli_options_reach_the_training_config(coderag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one CLI (also what torchrun starts) maps every flag onto ScratchTrainConfig / ScratchConfig."""
    seen: list[ScratchTrainConfig] = []
    monkeypatch.setattr(train_scratch, "train", lambda settings, config, log: seen.append(config) or {})
    code, _, stderr = coderag(
        "embedder",
        "train-scratch",
        "--data",
        "a.csv",
        "--data",
        "b.jsonl",
        "--tokenizer",
        "tok",
        "--out",
        str(tmp_path / "m"),
        "--hidden",
        "64",
        "--max-steps",
        "7",
        "--save-steps",
        "3",
        "--seed",
        "5",
        "--weight-decay",
        "0",
        "--compile",
        "--resume",
    )
    assert code == 0, stderr
    (config,) = seen
    assert config.data == [Path("a.csv"), Path("b.jsonl")] and config.model.hidden == 64 and config.model.layers == 8
    assert config.max_steps == 7 and config.save_every == 3 and config.seed == 5 and config.weight_decay == 0.0
    assert config.compile and config.resume and not config.overwrite and config.eval_template == "question_sql"


def test_auto_device_is_the_gpu_with_the_most_free_memory() -> None:
    assert choose_device([10, 30, 20], mps_available=True) == "cuda:1"
    assert choose_device([5], mps_available=False) == "cuda:0"
    assert choose_device([], mps_available=True) == "mps"
    assert choose_device([], mps_available=False) == "cpu"


def test_pick_device_reads_each_gpus_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three fake CUDA devices (torch.cuda's queries replaced), so the GPU branch runs on any machine."""
    free = {0: 2 << 30, 1: 1 << 30, 2: 7 << 30}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(free))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (free[index], 8 << 30))
    assert pick_device("auto") == torch.device("cuda:2")
    assert pick_device("cuda:0") == torch.device("cuda:0") and pick_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type in ("mps", "cpu")
