"""Pack a fine-tuned model as the shipped retriever (`rag/data/model/`, read by `embedder.model: shipped`).

    make model     # synth --all → embedder finetune → export-onnx --quantize int8 → embedder pack

What goes in, and why (sizes for a MiniLM-sized model):

    model.int8.onnx      per-token int8 MatMuls, word-embedding table in fp16   ≈ 35 MB  serving
    tokenizer.json       the model's fast tokenizer                             ≈ 0.7 MB serving
    export.json          the export record (parity with torch, int8 scheme)
    weights/             fp16 weights of everything but the word-embedding table ≈ 22 MB torch, retraining
                         + the sentence-transformers config files
    training.json        the fine-tuning record (data fingerprint, hyperparameters, metrics)
    model.json           name, fingerprint, the exact commands, metrics of torch fp32 and int8

The word-embedding table is about half of the weights; the int8 file keeps it in fp16 and the
torch weights read it from there (`rag.models.materialize_shipped`), so it is stored once: about
57 MB in all instead of 68 MB with a full fp16 copy of the weights.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedder.finetune import METADATA_FILE
from embedder.onnx_export import ensure_export
from embedder.retrieval import bundled_retrieval_metrics, prepare_bundled
from rag.documents import render
from rag.encoders import load_encoder, open_onnx_export
from rag.errors import ConfigError, ModelError
from rag.io import write_json_atomic
from rag.models import (
    EXPORT_FILE,
    FP16_WEIGHTS_FILE,
    INT8_FILE,
    RECORD_FILE,
    SHIPPED,
    TOKENIZER_FILE,
    WEIGHTS_DIR,
    materialize_shipped,
    model_fingerprint,
)
from rag.publish import publish_directory
from rag.settings import Settings

# Top-level files of a sentence-transformers directory that the packed weights/ leave out: the full
# weights, exports, training state and the tokenizer (the pack's tokenizer.json is copied back on
# materializing). Modules in subdirectories (a Dense projection) keep their own small weight files.
LEFT_OUT = ("model.safetensors", "pytorch_model.bin", "onnx", "checkpoints", METADATA_FILE, "README.md", TOKENIZER_FILE)


def shared_table(model_dir: Path, onnx_path: Path) -> dict[str, str] | None:
    """The fp16 lookup table of the int8 graph and the state-dict key of the same weights (found by
    value); None when the graph keeps no table in fp16 (a small model: every weight goes in weights/)."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from safetensors.numpy import load_file

    graph = onnx.load(str(onnx_path)).graph
    lookups = {node.input[0] for node in graph.node if node.op_type == "Gather"}
    tables = {i.name: numpy_helper.to_array(i) for i in graph.initializer if i.name in lookups and i.data_type == TensorProto.FLOAT16}
    state = load_file(str(model_dir / "model.safetensors"))
    for name, table in tables.items():
        for key, value in state.items():
            if value.shape == table.shape and np.array_equal(value.astype(np.float16), table):
                return {"onnx_initializer": name, "state_dict_key": key}
    if tables:
        raise ModelError(
            f"no fp16 lookup table of {onnx_path} matches a weight of {model_dir}", hint="export it again with `--quantize int8`"
        )
    return None


def write_weights(model_dir: Path, target: Path, skip_key: str | None) -> None:
    """The sentence-transformers files of `model_dir` with fp16 weights, leaving out `skip_key` (stored in the ONNX file)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(model_dir, target, ignore=lambda directory, names: [n for n in names if Path(directory) == model_dir and n in LEFT_OUT])
    state = load_file(str(model_dir / "model.safetensors"))
    halves = {key: value.astype(np.float16) if value.dtype == np.float32 else value for key, value in state.items() if key != skip_key}
    save_file(halves, str(target / FP16_WEIGHTS_FILE), metadata={"format": "pt"})
    (target / FP16_WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; package data is read by everyone


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.sum(a * b, axis=1).min()), 6)


def pack_model(
    settings: Settings,
    model_dir: Path,
    out: Path,
    *,
    name: str,
    commands: Sequence[str],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write `model_dir` (a fine-tuned sentence-transformers model) as a shipped-model directory at `out`.

    The int8 export is made first if it is missing or stale. Retrieval metrics on the bundled test
    split are measured for torch fp32 and for the packed int8 model, and the torch weights rebuilt
    from the pack are checked against the original; all of it goes into model.json."""
    model_dir = Path(model_dir).resolve()
    training_path = model_dir / METADATA_FILE
    if not training_path.is_file():
        raise ConfigError(f"{model_dir} has no {METADATA_FILE}: pack a model that `coderag embedder finetune` or `train-scratch` wrote")
    ensure_export(str(model_dir), "onnx-int8", settings.models_dir, log=log)
    export_dir = model_dir / "onnx"
    export = json.loads((export_dir / EXPORT_FILE).read_text(encoding="utf-8"))
    training = json.loads(training_path.read_text(encoding="utf-8"))
    fingerprint = model_fingerprint(model_dir)
    table = shared_table(model_dir, export_dir / INT8_FILE)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        shutil.copyfile(export_dir / INT8_FILE, staging / INT8_FILE)
        shutil.copyfile(export_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        shutil.copyfile(training_path, staging / METADATA_FILE)
        export["source_name"], export["source"] = name, SHIPPED
        export["files"] = {"int8": INT8_FILE}
        export.get("parity", {}).pop("fp32", None)
        write_json_atomic(staging / EXPORT_FILE, export)
        write_weights(model_dir, staging / WEIGHTS_DIR, table["state_dict_key"] if table else None)
        record: dict[str, Any] = {
            "name": name,
            "fingerprint": fingerprint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "kind": training.get("kind"),
            "base": training.get("base", {}),
            "data": training.get("data", {}),
            "hyperparameters": training.get("hyperparameters", {}),
            "commands": list(commands),
            "shared_table": table,
        }
        write_json_atomic(staging / RECORD_FILE, record)

        log("measuring retrieval on the bundled test split: torch fp32, packed int8, torch rebuilt from the pack")
        template = settings.index.template
        evaluation = prepare_bundled(settings)
        original = load_encoder(str(model_dir), backend="torch")
        int8 = open_onnx_export(staging, export, quantized=True)
        scratch = Path(tempfile.mkdtemp(prefix="coderag-pack-"))
        try:
            rebuilt = load_encoder(str(materialize_shipped(scratch, staging)), backend="torch")
            texts = [ex.question for ex in evaluation.test] + [render(ex, template) for ex in evaluation.train]
            reference = original.encode(texts)
            record["metrics"] = {
                "template": template,
                "torch": bundled_retrieval_metrics(original, evaluation, template),
                "onnx-int8": bundled_retrieval_metrics(int8, evaluation, template),
                "torch_rebuilt_min_cosine": _min_cosine(reference, rebuilt.encode(texts)),
                "int8_min_cosine": _min_cosine(reference, int8.encode(texts)),
            }
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        files = [p for p in sorted(staging.rglob("*")) if p.is_file() and p.name != RECORD_FILE]
        record["files_bytes"] = {str(p.relative_to(staging)): p.stat().st_size for p in files}
        record["total_bytes"] = sum(record["files_bytes"].values())
        write_json_atomic(staging / RECORD_FILE, record)
        publish_directory(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record
