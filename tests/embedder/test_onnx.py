"""ONNX export, int8 quantization and the onnx / onnx-int8 encoder backends (parity with torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from embedder_testing import one_error_line

from embedder.onnx_export import FP32_MIN_COSINE, export_onnx, parity_texts
from rag.encoders import load_encoder, load_onnx_encoder
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


def _op_types(model: Path) -> dict[str, int]:
    import collections

    import onnx

    return dict(collections.Counter(n.op_type for n in onnx.load(str(model / "onnx" / "model.int8.onnx")).graph.node))


def test_int8_schemes_quantize_every_linear_layer(tmp_path: Path, tiny_model: Path) -> None:
    import onnx

    def float_matmul_weights(model: Path) -> list[tuple[int, ...]]:
        graph = onnx.load(str(model / "onnx" / "model.int8.onnx")).graph
        shapes = {init.name: tuple(init.dims) for init in graph.initializer}
        return [shapes[n.input[1]] for n in graph.node if n.op_type == "MatMul" and n.input[1] in shapes]

    token, tensor = tmp_path / "token", tmp_path / "tensor"
    for target in (token, tensor):
        shutil.copytree(tiny_model, target)
    export_onnx(str(token), quantize=True)
    export_onnx(str(tensor), quantize=True, scheme="per-tensor")
    assert float_matmul_weights(token) == [] and float_matmul_weights(tensor) == []
    # one layer: Q/K/V share one quantized input (one wide MatMul), attention output, FFN up, FFN down;
    # then the Dense projection from hidden 32 to 24 dimensions
    assert _op_types(token)["MatMulIntegerToFloat"] == 5 and _op_types(token)["Split"] == 1
    assert "QuantizeLinear" in _op_types(token) and "QuantizeLinear" not in _op_types(tensor)
    meta = json.loads((token / "onnx" / "export.json").read_text())
    assert meta["int8"]["scheme"] == "per-token" and meta["int8"]["quantized_matmuls"] == 5 and meta["int8"]["calibration_texts"] > 100
    assert json.loads((tensor / "onnx" / "export.json").read_text())["int8"]["scheme"] == "per-tensor"
    assert meta["parity"]["int8"]["min_cosine"] > 0.99
    assert load_onnx_encoder(str(token), quantized=True).fingerprint != load_onnx_encoder(str(tensor), quantized=True).fingerprint


def _linear_graph(path: Path, weights: list[np.ndarray]) -> None:
    """x[batch, seq, K] → one MatMul per weight (all reading x) → outputs y0, y1, …"""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", f"w{i}"], [f"y{i}"], name=f"mm{i}") for i in range(len(weights))]
    graph = helper.make_graph(
        nodes,
        "linear",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", weights[0].shape[0]]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(len(weights))],
        [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))


def test_per_token_int8_matches_a_numpy_reference(tmp_path: Path) -> None:
    import onnxruntime as ort

    from embedder.quantize import WEIGHT_LEVELS, per_token_int8

    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(16, n)).astype(np.float32) for n in (8, 8, 12)]
    x = rng.normal(size=(3, 5, 16)).astype(np.float32)
    x[1, 2] *= 40  # one token with a wide range: per-token scales keep it from coarsening the others
    x[:, :, 3] *= 10  # one outlier channel (what smoothing moves into the weights)
    _linear_graph(tmp_path / "f.onnx", weights)
    assert per_token_int8(tmp_path / "f.onnx", tmp_path / "q.onnx") == 1  # three MatMuls on one input → one
    outputs = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "attention_mask": np.ones((3, 5), np.int64)}
    )

    rows = x.reshape(-1, 16)
    row_scale = np.abs(rows).max(axis=1, keepdims=True) / 127
    xq = np.round(rows / row_scale)
    for w, y in zip(weights, outputs):
        w_scale = np.abs(w).max(axis=0) / WEIGHT_LEVELS  # 7-bit weights: exact with or without VNNI
        expected = (xq @ np.round(w / w_scale)) * row_scale * w_scale
        assert y.shape == (3, 5, w.shape[1])
        np.testing.assert_allclose(y.reshape(-1, w.shape[1]), expected, rtol=1e-4, atol=1e-3)
        exact = rows @ w
        assert np.abs(y.reshape(-1, w.shape[1]) - exact).max() < 0.04 * np.abs(exact).max()  # 7-bit weights: twice 8-bit's step

    # With calibration the smoothing scales change the int8 values but not what the graph computes.
    feeds = [{"x": x, "attention_mask": np.ones((3, 5), np.int64)}]
    per_token_int8(tmp_path / "f.onnx", tmp_path / "s.onnx", feeds)
    smoothed = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds[0])
    for w, y in zip(weights, smoothed):
        exact = rows @ w
        assert np.abs(y.reshape(-1, w.shape[1]) - exact).max() < 0.04 * np.abs(exact).max()  # 7-bit weights: twice 8-bit's step


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
    assert meta["parity"]["int8"]["mean_cosine"] >= 0.995 and meta["int8"]["scheme"] == "per-token"  # 0.9987 measured

    from rag.encoders import encoder_from_settings as encoder_from_settings
    from rag.settings import load_settings

    int8 = encoder_from_settings(load_settings(embedder={"model": "bundled", "backend": "onnx-int8"}))
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
    code, _, stderr = coderag("embedder", "export-onnx", "--model", str(model), "--quantize", "int8", "--int8-scheme", "per-row")
    assert code == 2 and "per-token" in one_error_line(stderr)
    code, _, stderr = coderag("embedder", "export-onnx", "--model", str(model), "--int8-scheme", "per-tensor")
    assert code == 2 and "--quantize int8" in one_error_line(stderr)
    assert not (model / "onnx" / "model.int8.onnx").exists()
    code, _, stderr = coderag("embedder", "export-onnx", "--model", str(tmp_path / "nowhere" / "x"))
    assert code == 6 and "not found" in one_error_line(stderr)


def test_encode_many_in_worker_processes_matches_one_process(tiny_export: Path) -> None:
    """A large corpus is embedded by several processes over the same export, in the same order."""
    from rag.encoders import POOL_CHUNK, encode_many

    encoder = load_encoder(str(tiny_export), backend="onnx-int8")
    texts = [
        f"QUESTION: how many rows in table_{i}?\nSQL QUERY: SELECT count(*) FROM t{i} WHERE a > {i % 97}" + " x" * (i % 13)
        for i in range(4 * POOL_CHUNK + 7)
    ]
    pooled = encode_many(encoder, texts, workers=2)
    assert pooled.shape == (len(texts), encoder.dimension)
    assert np.allclose(pooled, encoder.encode(texts), atol=1e-5)
