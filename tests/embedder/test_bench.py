"""`coderag embedder bench`: one row per backend on the same documents, compared with torch (no timing assertions)."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from embedder_testing import one_error_line

from embedder.bench import measure_encoders
from embedder.onnx_export import export_onnx
from embedder.retrieval import prepare_bundled


class HashEncoder:
    """Bag-of-words vectors (one random direction per token) with no model; `rotation` turns every vector alike."""

    fingerprint = ""

    def __init__(self, name: str, dimension: int = 256, rotation: np.ndarray | None = None) -> None:
        self.name, self.dimension, self.rotation = name, dimension, rotation

    def _token(self, token: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(token.encode())).standard_normal(self.dimension)

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        vectors = np.stack([sum((self._token(t) for t in text.lower().split()), np.zeros(self.dimension)) for text in texts])
        if self.rotation is not None:
            vectors = vectors @ self.rotation
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class RandomEncoder(HashEncoder):
    """A vector per text that has nothing to do with its words."""

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        vectors = np.stack([np.random.default_rng(zlib.crc32(b"other" + t.encode())).standard_normal(self.dimension) for t in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_other_backends_are_measured_against_torch(settings) -> None:
    """A rotated copy of torch's vectors ranks alike (same top 3, same metrics) though its vectors differ;
    unrelated vectors agree with torch no more than chance and retrieve worse."""
    rotation, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((256, 256)))
    encoders = {"torch": HashEncoder("torch"), "rotated": HashEncoder("rotated", rotation=rotation), "random": RandomEncoder("random")}
    report = measure_encoders(encoders, template="question_sql", evaluation=prepare_bundled(settings), rounds=1, log=lambda _: None)
    rows = {row["backend"]: row for row in report["results"]}
    assert list(rows) == ["torch", "rotated", "random"] and report["documents"] == 255
    torch, rotated, random = rows["torch"], rows["rotated"], rows["random"]
    assert torch["min_cosine_vs_torch"] == pytest.approx(1.0, abs=1e-5) and torch["top3_agreement"] == 1.0
    assert rotated["min_cosine_vs_torch"] < 0.5 and rotated["top3_agreement"] >= 0.99
    assert rotated["recall@3"] == pytest.approx(torch["recall@3"], abs=0.01) and rotated["mrr@10"] == pytest.approx(
        torch["mrr@10"], abs=0.01
    )
    assert abs(random["mean_cosine_vs_torch"]) < 0.1 and random["top3_agreement"] < 0.1
    assert random["mrr@10"] < torch["mrr@10"] / 2


def test_bench_cli_reports_every_backend_of_an_export(coderag, tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    export_onnx(str(model), quantize=True, check_parity=False)
    report_path = tmp_path / "bench.json"
    code, stdout, stderr = coderag(
        "embedder", "bench", "--model", str(model), "--rounds", "1", "--threads", "1", "--json-out", str(report_path)
    )
    assert code == 0, stderr
    report = json.loads(report_path.read_text())
    rows = {row["backend"]: row for row in report["results"]}
    assert list(rows) == ["torch", "onnx", "onnx-int8"] and report["documents"] == 255 and report["threads"] == 1
    for row in rows.values():
        assert row["docs_per_s"] > 0 and row["query_ms_median"] > 0 and row["recall@3"] is not None
    torch, onnx, int8 = rows["torch"], rows["onnx"], rows["onnx-int8"]
    assert onnx["min_cosine_vs_torch"] >= 0.999 and onnx["top3_agreement"] >= 0.9
    assert onnx["recall@3"] == pytest.approx(torch["recall@3"], abs=0.01) and onnx["mrr@10"] == pytest.approx(torch["mrr@10"], abs=0.01)
    assert int8["min_cosine_vs_torch"] < onnx["min_cosine_vs_torch"] and int8["top3_agreement"] >= 0.8  # int8 rounds, fp32 does not
    assert "onnx-int8" in stdout and "docs/s" in stdout


def test_bench_without_an_export_says_how_to_make_one(coderag, tiny_model: Path) -> None:
    code, _, stderr = coderag("embedder", "bench", "--model", str(tiny_model), "--no-eval")
    assert code == 6 and "export-onnx" in one_error_line(stderr)


def test_unknown_backend(coderag) -> None:
    code, _, stderr = coderag("embedder", "bench", "--backends", "torch,tpu")
    assert code == 2 and "unknown backend" in one_error_line(stderr)
