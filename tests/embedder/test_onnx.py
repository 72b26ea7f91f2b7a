"""ONNX export, int8 quantization and the onnx / onnx-int8 encoder backends (parity with torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedder.encoder import load_encoder
from embedder.onnx_backend import FP32_MIN_COSINE, export_onnx, load_onnx_encoder, parity_texts
from embedder_testing import one_error_line
from rag.errors import ModelError


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A copy of the tiny model with fp32 and int8 exports in <dir>/onnx/."""
    model = tmp_path_factory.mktemp("onnx") / "tiny"
    shutil.copytree(tiny_model, model)
    export_onnx(str(model), quantize=True)
    return model


@pytest.fixture(scope="module")
def bundled_export(coderag_home: Path) -> Path:
    """The bundled MiniLM exported once for the whole session (fp32 + int8) under the session's models dir."""
    return export_onnx("bundled", quantize=True, models_dir=coderag_home / "models").directory


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_export_layout_and_parity_over_batch_sizes(tiny_export: Path) -> None:
    onnx_dir = tiny_export / "onnx"
    assert {p.name for p in onnx_dir.iterdir()} == {"model.onnx", "model.int8.onnx", "tokenizer.json", "export.json"}
    meta = json.loads((onnx_dir / "export.json").read_text())
    assert meta["parity"]["fp32"]["min_cosine"] >= FP32_MIN_COSINE and meta["parity"]["batch_sizes"] == [1, 3, 8, 32]
    torch_encoder = load_encoder(str(tiny_export))
    fp32 = load_encoder(str(tiny_export), backend="onnx")
    texts = parity_texts()
    reference = torch_encoder.encode(texts)
    for batch_size in (1, 5, 64):  # different padding lengths per batch
        assert _cosines(fp32.encode(texts, batch_size=batch_size), reference).min() >= FP32_MIN_COSINE


def test_fingerprints_separate_backends_so_indexes_are_not_mixed(tiny_export: Path) -> None:
    torch_encoder = load_encoder(str(tiny_export))
    fp32 = load_onnx_encoder(str(tiny_export), quantized=False)
    int8 = load_onnx_encoder(str(tiny_export), quantized=True)
    assert len({torch_encoder.fingerprint, fp32.fingerprint, int8.fingerprint}) == 3
    assert fp32.dimension == int8.dimension == torch_encoder.dimension == 24
    assert fp32.fingerprint == load_onnx_encoder(str(tiny_export)).fingerprint  # stable across loads

    from rag.corpus import load_bundled
    from rag.errors import IndexStoreError
    from rag.index import VectorIndex

    index = VectorIndex.build(load_bundled("test")[:10], int8, "question_sql", show_progress=False)
    hits = index.search(int8.encode(["How many appointments were cancelled?"]), 3)[0]
    assert len(hits) == 3
    with pytest.raises(IndexStoreError):
        index.add(load_bundled("train")[:1], fp32)


def test_reexport_without_quantize_keeps_the_int8_model(tiny_export: Path) -> None:
    int8 = tiny_export / "onnx" / "model.int8.onnx"
    size = int8.stat().st_size
    export_onnx(str(tiny_export), quantize=False)
    meta = json.loads((tiny_export / "onnx" / "export.json").read_text())
    assert int8.stat().st_size == size and meta["files"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}


def test_ffn_fp32_keeps_the_down_projections_unquantized(tmp_path: Path, tiny_model: Path) -> None:
    import onnx

    def float_matmul_weights(model: Path) -> list[tuple[int, ...]]:
        graph = onnx.load(str(model / "onnx" / "model.int8.onnx")).graph
        shapes = {init.name: tuple(init.dims) for init in graph.initializer}
        return [shapes[n.input[1]] for n in graph.node if n.op_type == "MatMul" and n.input[1] in shapes]

    plain, kept = tmp_path / "plain", tmp_path / "kept"
    for target in (plain, kept):
        shutil.copytree(tiny_model, target)
    export_onnx(str(plain), quantize=True, check_parity=False)
    export_onnx(str(kept), quantize=True, ffn_fp32=True, check_parity=False)
    assert float_matmul_weights(plain) == [] and float_matmul_weights(kept) == [(64, 32)]  # ffn 64 → hidden 32, one layer
    assert json.loads((kept / "onnx" / "export.json").read_text())["int8"]["ffn_fp32"] is True
    assert load_onnx_encoder(str(plain), quantized=True).fingerprint != load_onnx_encoder(str(kept), quantized=True).fingerprint


def test_missing_and_stale_exports_are_clear_errors(tmp_path: Path, tiny_model: Path, tiny_export: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    with pytest.raises(ModelError, match="export-onnx --model .*copy --quantize int8"):
        load_encoder(str(copy), backend="onnx-int8")
    stale = tmp_path / "stale"
    shutil.copytree(tiny_export, stale)
    config = stale / "config_sentence_transformers.json"
    config.write_text(config.read_text() + "\n")
    with pytest.raises(ModelError, match="older version"):
        load_encoder(str(stale), backend="onnx")


def test_unsupported_modules_are_refused(tmp_path: Path, tiny_model: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dropout

    model = SentenceTransformer(str(tiny_model), device="cpu")
    odd = SentenceTransformer(modules=[*model, Dropout(0.1)], device="cpu")
    odd.save(str(tmp_path / "odd"), create_model_card=False)
    with pytest.raises(ModelError, match="does not support module.*Dropout"):
        export_onnx(str(tmp_path / "odd"))
    assert not (tmp_path / "odd" / "onnx").exists()


def test_bundled_export_parity_and_settings_backend(bundled_export: Path, encoder) -> None:
    meta = json.loads((bundled_export / "export.json").read_text())
    assert meta["source_name"] == "all-MiniLM-L6-v2" and meta["max_seq_length"] == 256
    assert meta["parity"]["fp32"]["min_cosine"] >= FP32_MIN_COSINE
    assert meta["parity"]["int8"]["mean_cosine"] >= 0.98

    from rag.chain import load_settings_encoder
    from rag.settings import load_settings

    int8 = load_settings_encoder(load_settings(embedder={"backend": "onnx-int8"}))
    assert int8.name == "all-MiniLM-L6-v2 (onnx-int8)" and int8.fingerprint != encoder.fingerprint
    texts = ["How many patients saw Dr. Smith?", "SELECT COUNT(*) FROM appointments WHERE status = 'Cancelled';"]
    assert _cosines(int8.encode(texts), encoder.encode(texts)).min() > 0.95


def test_export_cli(coderag, tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    code, stdout, stderr = coderag("embedder", "export-onnx", "--model", str(model))
    assert code == 0, stderr
    assert "model.onnx" in stdout and (model / "onnx" / "model.onnx").is_file() and not (model / "onnx" / "model.int8.onnx").exists()
    code, _, stderr = coderag("embedder", "export-onnx", "--model", str(model), "--quantize", "int4")
    assert code == 2 and "int8" in one_error_line(stderr)
    code, _, stderr = coderag("embedder", "export-onnx", "--model", str(tmp_path / "nowhere" / "x"))
    assert code == 6 and "not found" in one_error_line(stderr)
