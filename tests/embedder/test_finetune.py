"""Fine-tuning with the sentence-transformers trainer: output, metadata, metrics and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedder_testing import TRIPLETS, one_error_line, write_csv

from embedder import finetune as finetune_module
from embedder.finetune import FinetuneConfig, finetune
from rag.errors import ConfigError, ModelError


def test_finetune_cli_writes_a_sentence_transformers_model(coderag, tmp_path: Path) -> None:
    """16 triplets, 1 epoch, the CLI's defaults otherwise (bundled retrieval metrics included); then
    a second run into the same --out is refused and leaves the model untouched."""
    out = tmp_path / "model"
    code, stdout, stderr = coderag("embedder", "finetune", "--data", str(TRIPLETS), "--epochs", "1", "--out", str(out), "--json")
    assert code == 0, stderr
    meta = json.loads(stdout)
    data = meta["data"]
    assert data["rows_read"] == 16 and data["augmented_rows"] > 0 and data["rows_used"] == 16 + data["augmented_rows"]
    assert len(data["fingerprint"]) == 16
    assert meta["hyperparameters"]["loss"] == "mnrl" and meta["hyperparameters"]["batch_size"] == 16
    assert meta["hyperparameters"]["augment"] == ["skeleton", "same_skeleton"]
    assert meta["steps"] == 2 and meta["final_loss"] is not None
    for when in ("before", "after"):
        bundled = meta["metrics"][when]["bundled"]
        assert {"recall@1", "recall@3", "mrr@10"} <= set(bundled)
    assert json.loads((out / "training.json").read_text())["fingerprint"] == meta["fingerprint"]
    assert not (out.parent / f".{out.name}.partial").exists()

    from sentence_transformers import SentenceTransformer

    from rag.encoders import load_encoder

    assert SentenceTransformer(str(out), device="cpu").encode(["SELECT 1"]).shape == (1, 384)
    encoder = load_encoder(str(out))
    assert encoder.fingerprint == meta["fingerprint"] and encoder.dimension == 384

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code, _, stderr = coderag("embedder", "finetune", "--data", str(TRIPLETS), "--out", str(out), "--no-eval")
    assert code == 2 and "already exists" in one_error_line(stderr)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["--data", "missing.csv"], 3, "triplet file not found"),
        (["--base", "."], 6, "not a sentence-transformers model directory"),
        (["--loss", "nope"], 2, "unknown loss"),
        (["--data", str(TRIPLETS), "--data", str(TRIPLETS)], 2, "one --data file"),
    ],
)
def test_bad_input_is_one_line(coderag, tmp_path: Path, args: list[str], code: int, text: str) -> None:
    full = ["embedder", "finetune", "--out", str(tmp_path / "m"), "--no-eval", *args]
    if "--data" not in args:
        full += ["--data", str(TRIPLETS)]
    exit_code, _, stderr = coderag(*full)
    assert exit_code == code and text in one_error_line(stderr)
    assert not (tmp_path / "m").exists() and not (tmp_path / ".m.partial").exists()


def test_missing_columns_fail_before_any_model_loads(coderag, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", [{"question": "q", "answer": "a"}])
    code, _, stderr = coderag("embedder", "finetune", "--data", str(bad), "--out", str(tmp_path / "m"))
    assert code == 3 and "lacks column(s) query, pos" in one_error_line(stderr)
    assert list(tmp_path.iterdir()) == [bad]


def test_old_train_name_runs_finetune_and_is_hidden(coderag, tmp_path: Path) -> None:
    """`embedder train` (without --from-scratch) is `finetune`: its options and checks; the help lists only the new names."""
    code, _, stderr = coderag("embedder", "train", "--data", str(TRIPLETS), "--loss", "nope", "--out", str(tmp_path / "m"), "--no-eval")
    assert code == 2 and "unknown loss" in one_error_line(stderr)
    code, stdout, _ = coderag("embedder", "--help")
    listed = {line.strip("│ ").split(" ")[0] for line in stdout.splitlines()}
    assert code == 0 and {"finetune", "train-scratch"} <= listed and "train" not in listed


def test_long_texts_are_counted_as_truncated(settings, tmp_path: Path, tiny_model: Path) -> None:
    result = finetune(
        settings,
        FinetuneConfig(
            data=TRIPLETS, out=tmp_path / "m", base=str(tiny_model), epochs=1, max_seq_length=16, evaluate=False, show_progress=False
        ),
        log=lambda _: None,
    )
    assert result.metadata["data"]["truncated_texts"] > 0
    assert result.metadata["hyperparameters"]["max_seq_length"] == 16


class NaNAfter:
    """A loss that turns NaN from the given step on (counted in forward calls)."""

    def __init__(self, inner, start: int) -> None:
        self.inner, self.start, self.calls = inner, start, 0

    def __call__(self, model, name: str, batch_size: int):
        import torch

        loss = self.inner(model, name, batch_size)
        outer = self

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.loss = loss

            def forward(self, features, labels):
                outer.calls += 1
                value = self.loss(features, labels)
                return value * float("nan") if outer.calls >= outer.start else value

        return Wrapped()


def test_nan_loss_stops_with_a_clear_error_then_resume_finishes(
    settings, tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    config = dict(data=TRIPLETS, out=out, base=str(tiny_model), epochs=3, batch_size=8, evaluate=False, save_steps=1, show_progress=False)
    monkeypatch.setattr(finetune_module, "build_loss", NaNAfter(finetune_module.build_loss, start=3))
    with pytest.raises(ModelError, match=r"loss became nan at step 3; last good checkpoint kept at .*checkpoint-2"):
        finetune(settings, FinetuneConfig(**config), log=lambda _: None)
    assert not out.exists()
    with pytest.raises(ConfigError, match="interrupted run exists"):
        finetune(settings, FinetuneConfig(**config), log=lambda _: None)

    monkeypatch.undo()
    result = finetune(settings, FinetuneConfig(**config, resume=True), log=lambda _: None)
    assert result.metadata["steps"] == 6  # 16 rows / 8 per batch × 3 epochs, two of them from the checkpoint
    assert out.is_dir() and not (tmp_path / ".m.partial").exists()


def test_resume_without_an_interrupted_run_is_refused(settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to resume"):
        finetune(settings, FinetuneConfig(data=TRIPLETS, out=tmp_path / "m", resume=True, evaluate=False), log=lambda _: None)


def test_eval_data_metrics_before_and_after(settings, tmp_path: Path, tiny_model: Path) -> None:
    result = finetune(
        settings,
        FinetuneConfig(
            data=TRIPLETS, out=tmp_path / "m", base=str(tiny_model), epochs=1, evaluate=False, eval_data=TRIPLETS, show_progress=False
        ),
        log=lambda _: None,
    )
    before, after = result.before["eval_data"], result.after["eval_data"]
    assert before["queries"] == after["queries"] == 16 and 0 <= after["mrr@10"] <= 1
    assert result.metadata["eval_data"]["rows_used"] == 16
