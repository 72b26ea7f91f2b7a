"""`coderag embedder bench`: one row per backend on the same documents (no timing assertions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from embedder_testing import one_error_line

from embedder.onnx_export import export_onnx


def test_bench_reports_every_backend(coderag, tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    export_onnx(str(model), quantize=True, check_parity=False)
    report_path = tmp_path / "bench.json"
    code, stdout, stderr = coderag("embedder", "bench", "--model", str(model), "--rounds", "1", "--threads", "1", "--json-out", str(report_path))
    assert code == 0, stderr
    report = json.loads(report_path.read_text())
    rows = {row["backend"]: row for row in report["results"]}
    assert set(rows) == {"torch", "onnx", "onnx-int8"} and report["documents"] == 255 and report["threads"] == 1
    for row in rows.values():
        assert row["docs_per_s"] > 0 and row["query_ms_median"] > 0 and row["recall@3"] is not None
    assert rows["torch"]["speedup"] == 1.0 and rows["onnx"]["min_cosine_vs_torch"] >= 0.999
    assert rows["torch"]["top3_agreement"] == 1.0 and rows["onnx"]["top3_agreement"] >= 0.9
    assert "onnx-int8" in stdout and "docs/s" in stdout


def test_bench_without_an_export_says_how_to_make_one(coderag, tiny_model: Path) -> None:
    code, _, stderr = coderag("embedder", "bench", "--model", str(tiny_model), "--no-eval")
    assert code == 6 and "export-onnx" in one_error_line(stderr)


def test_unknown_backend(coderag) -> None:
    code, _, stderr = coderag("embedder", "bench", "--backends", "torch,tpu")
    assert code == 2 and "unknown backend" in one_error_line(stderr)
