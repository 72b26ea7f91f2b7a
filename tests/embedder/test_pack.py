"""The shipped-model pack: int8 ONNX + fp16 weights sharing one lookup table, rebuilt for torch and retraining."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedder.onnx_export import export_onnx
from embedder.pack import pack_model
from embedder.quantize import half_lookup_tables
from rag import models
from rag.encoders import load_encoder, load_onnx_encoder
from rag.errors import ModelError
from rag.models import (
    FP16_WEIGHTS_FILE,
    INT8_FILE,
    SHIPPED,
    WEIGHTS_DIR,
    materialize_shipped,
)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, coderag_home: Path) -> tuple[Path, Path, dict]:
    """The tiny model exported to int8 (its lookup tables in fp16, as a MiniLM-sized table would be) and packed."""
    from rag.settings import load_settings

    work = tmp_path_factory.mktemp("pack")
    model = work / "tiny"
    shutil.copytree(tiny_model, model)
    export_onnx(str(model), quantize=True)
    assert half_lookup_tables(model / "onnx" / INT8_FILE, min_elements=1)  # the tiny tables are under the default size
    record = pack_model(
        load_settings(home=coderag_home), model, work / "shipped", name="tiny-shipped", commands=["make model"], log=lambda _: None
    )
    return model, work / "shipped", record


def test_pack_writes_the_serving_files_weights_and_record(packed: tuple[Path, Path, dict]) -> None:
    model, shipped, record = packed
    assert {p.name for p in shipped.iterdir()} == {
        "model.int8.onnx",
        "tokenizer.json",
        "export.json",
        "model.json",
        "training.json",
        "weights",
    }
    assert (shipped / WEIGHTS_DIR / FP16_WEIGHTS_FILE).is_file() and not (shipped / WEIGHTS_DIR / "model.safetensors").exists()
    assert record == json.loads((shipped / "model.json").read_text())
    assert record["commands"] == ["make model"] and record["data"]["fingerprint"] and record["shared_table"]
    from safetensors.numpy import load_file

    assert record["shared_table"]["state_dict_key"] not in load_file(str(shipped / WEIGHTS_DIR / FP16_WEIGHTS_FILE))  # stored once
    metrics = record["metrics"]
    assert {"recall@3", "mrr@10"} <= set(metrics["torch"]) and {"recall@3", "mrr@10"} <= set(metrics["onnx-int8"])
    assert metrics["torch_rebuilt_min_cosine"] > 0.999 and metrics["int8_min_cosine"] > 0.9
    assert record["total_bytes"] == sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file() and p.name != "model.json")


def test_materialized_weights_load_in_torch_and_match_the_original(packed: tuple[Path, Path, dict], tmp_path: Path) -> None:
    model, shipped, _ = packed
    directory = materialize_shipped(tmp_path / "models", shipped)
    assert materialize_shipped(tmp_path / "models", shipped) == directory  # written once
    texts = ["How many customers are there?", "SELECT count(*) FROM orders"]
    original = load_encoder(str(model), backend="torch").encode(texts)
    rebuilt = load_encoder(str(directory), backend="torch").encode(texts)
    assert np.sum(original * rebuilt, axis=1).min() > 0.999


def test_shipped_int8_loads_from_the_package_directory_and_checks_its_record(
    packed: tuple[Path, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, shipped, _ = packed
    copy = tmp_path / "model"
    shutil.copytree(shipped, copy)
    monkeypatch.setattr(models, "SHIPPED_DIR", copy)
    encoder = load_onnx_encoder(SHIPPED, tmp_path / "models", quantized=True)
    assert encoder.name == "tiny-shipped (onnx-int8)" and encoder.encode(["a question"]).shape == (1, encoder.dimension)
    record = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**record, "fingerprint": "another-version"}))
    with pytest.raises(ModelError, match="disagree"):
        load_onnx_encoder(SHIPPED, tmp_path / "models", quantized=True)
    (copy / "model.json").unlink()
    with pytest.raises(ModelError, match="shipped model is missing"):
        load_encoder(SHIPPED, backend="torch", models_dir=tmp_path / "models")
