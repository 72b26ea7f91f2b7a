"""ONNX serving: export a sentence-transformers model, quantize it to int8, and encode with onnxruntime.

    coderag embedder export-onnx --model models/v1 --quantize int8
    CODERAG_EMBEDDER__BACKEND=onnx-int8 coderag index build --embedder models/v1

The exported graph is the whole encoder: transformer body → pooling → dense layers → L2
normalisation, with dynamic batch and sequence axes (`torch.onnx.export`, TorchScript exporter).
onnxruntime's transformer optimizer fuses attention and LayerNorm for the fp32 model; the int8
model is written by embedder.quantize (per-token activation scales by default, see there for the
measurements behind that choice). optimum is not used: its releases pin transformers below what
sentence-transformers 6 needs.

Files go to `<model dir>/onnx/` (model.onnx, model.int8.onnx, tokenizer.json, export.json); for
the bundled model, whose package directory may be read-only, to
`settings.models_dir/all-MiniLM-L6-v2-onnx/`. export.json records the source model's
fingerprint, so an export left behind by an older model is refused, and the parity measured
against torch at export time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedder.quantize import DEFAULT_SCHEME, SCHEMES
from rag.encoders import OnnxEncoder, load_tokenizer, make_session
from rag.errors import ConfigError, ModelError
from rag.models import (
    EXPORT_FILE,
    FP32_FILE,
    INT8_FILE,
    TOKENIZER_FILE,
    export_dir_for,
)
from rag.publish import publish_directory

OPSET = 17
PARITY_BATCH_SIZES = (1, 3, 8, 32)
FP32_MIN_COSINE = 0.999


# -- the encoder --------------------------------------------------------------------------------


# -- export -------------------------------------------------------------------------------------


def _export_module(model: Any) -> Any:
    """A plain nn.Module (input_ids, attention_mask) → normalised sentence embedding for `model`."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )

    modules = list(model)
    if not modules or not isinstance(modules[0], Transformer):
        raise ModelError("ONNX export supports models that start with a Transformer module")
    pooling = next((m for m in modules if isinstance(m, Pooling)), None)
    if pooling is None or pooling.pooling_mode not in ("mean", "cls", "max"):
        raise ModelError(f"ONNX export supports mean, cls or max pooling, not {getattr(pooling, 'pooling_mode', None)}")
    unsupported = [type(m).__name__ for m in modules[1:] if not isinstance(m, (Pooling, Dense, Normalize))]
    if unsupported:
        raise ModelError(f"ONNX export does not support module(s) {', '.join(unsupported)}")
    body = modules[0].auto_model
    body.config._attn_implementation = "eager"  # the TorchScript exporter traces eager attention cleanly
    denses = [m for m in modules if isinstance(m, Dense)]
    mode = pooling.pooling_mode

    class SentenceEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.denses = torch.nn.ModuleList(denses)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            if mode == "mean":
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            elif mode == "max":
                pooled = tokens.masked_fill(mask == 0, -1e9).max(1).values
            else:
                pooled = tokens[:, 0]
            for dense in denses:  # the modules of self.denses (registered there), typed as Dense
                pooled = dense.activation_function(dense.linear(pooled))
            return F.normalize(pooled, p=2.0, dim=-1)

    return SentenceEncoder().eval()


def _optimize(src: Path, dst: Path, config: Any) -> bool:
    """onnxruntime's transformer fusions (attention, LayerNorm, GELU) for BERT-like bodies; False if not applicable."""
    from onnxruntime.transformers.optimizer import optimize_model

    if getattr(config, "model_type", "") not in ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"):
        return False
    model_type = "bert" if config.model_type in ("roberta", "xlm-roberta", "mpnet", "electra") else config.model_type
    try:
        optimized = optimize_model(
            str(src), model_type=model_type, num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=1
        )
        optimized.save_model_to_file(str(dst))
    except Exception:  # an architecture the fusions do not recognise: keep the plain graph
        return False
    return True


def quantize_int8(plain: Path, dst: Path, tokenizer: Any, scheme: str = DEFAULT_SCHEME) -> dict[str, Any]:
    """Write the int8 model of the exported `plain` graph to `dst` with `scheme` (embedder.quantize); returns its export.json entry."""
    from embedder import quantize as q

    if scheme == "per-tensor":
        q.per_tensor_int8(plain, dst)
        meta: dict[str, Any] = {
            "scheme": scheme,
            "weights": "MatMul int8 per column",
            "activations": "uint8, one scale per tensor (onnxruntime quantize_dynamic)",
        }
    else:
        texts = q.calibration_texts()
        matmuls = q.per_token_int8(plain, dst, q.feeds(tokenizer, texts))
        meta = {
            "scheme": scheme,
            "weights": f"MatMul int8 per column, ±{q.WEIGHT_LEVELS} (7-bit: exact without VNNI)",
            "activations": "uint8, one scale per token",
            "smoothing_alpha": q.SMOOTHING_ALPHA,
            "calibration_texts": len(texts),
            "quantized_matmuls": matmuls,
        }
    meta["lookup_tables_fp16"] = q.half_lookup_tables(dst)
    return meta


def parity_texts(max_chars: int = 4000) -> list[str]:
    """Short queries, medium documents and long ones (truncated by the tokenizer) from the bundled corpus."""
    from rag.corpus import load_bundled
    from rag.documents import render

    examples = load_bundled("test")[:24]
    texts = [ex.question for ex in examples[:8]]
    texts += [render(ex, "question_sql_context") for ex in examples[8:16]]
    texts += [render(ex, "context_sql")[:max_chars] for ex in examples[16:24]]
    return texts + ["SELECT 1", "x"]


def measure_parity(
    reference: np.ndarray, encoder: OnnxEncoder, texts: Sequence[str], batch_sizes: Sequence[int] = PARITY_BATCH_SIZES
) -> dict[str, float]:
    """Cosine between torch and ONNX embeddings of the same texts, over several batch sizes (so several padding lengths)."""
    cosines = []
    for size in batch_sizes:
        vectors = encoder.encode(list(texts), batch_size=size)
        cosines.append(np.sum(vectors * reference, axis=1))
    values = np.concatenate(cosines)
    return {"min_cosine": round(float(values.min()), 6), "mean_cosine": round(float(values.mean()), 6)}


@dataclass
class ExportResult:
    directory: Path
    files: dict[str, str]
    parity: dict[str, dict[str, float]]


def export_onnx(
    name: str, *, quantize: bool = False, scheme: str = DEFAULT_SCHEME, models_dir: Path | None = None, check_parity: bool = True
) -> ExportResult:
    """Export `name` to ONNX (and int8 with `quantize`, `scheme` per embedder.quantize), check parity with torch, write atomically."""
    import torch

    from rag.encoders import load_sentence_transformer

    if scheme not in SCHEMES:
        raise ConfigError(f"unknown int8 scheme '{scheme}' (choose from {', '.join(SCHEMES)})")
    target = export_dir_for(name, models_dir)
    model, display, fingerprint = load_sentence_transformer(name, device="cpu", models_dir=models_dir)
    max_seq_length = int(model.max_seq_length)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        texts = parity_texts()
        reference = np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)
        module = _export_module(model)
        sample = model.preprocess(["a short query", "a somewhat longer document text for the exporter to trace"])
        plain = staging / "plain.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on shape-dependent Python branches and advanced indexing: the parity
            # check below over several batch sizes and padding lengths is what tells if the graph is right.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index", category=UserWarning)
            torch.onnx.export(
                module,
                (sample["input_ids"], sample["attention_mask"]),
                str(plain),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
            )
        fp32 = staging / FP32_FILE
        if not _optimize(plain, fp32, model[0].auto_model.config):
            shutil.copyfile(plain, fp32)
        files = {"fp32": FP32_FILE}
        _save_tokenizer_json(model, staging)
        pad_id, pad_token = int(model.tokenizer.pad_token_id or 0), str(model.tokenizer.pad_token or "[PAD]")
        int8_meta = None
        if quantize:
            tokenizer = load_tokenizer(staging / TOKENIZER_FILE, max_seq_length, pad_id, pad_token)
            int8_meta = quantize_int8(plain, staging / INT8_FILE, tokenizer, scheme)
            files["int8"] = INT8_FILE
        plain.unlink()
        meta: dict[str, Any] = {
            "source_name": display,
            "source": name,
            "source_fingerprint": fingerprint,
            "max_seq_length": max_seq_length,
            "pad_id": pad_id,
            "pad_token": pad_token,
            "dimension": int(reference.shape[1]),
            "opset": OPSET,
            "files": files,
            "int8": int8_meta,
        }
        (staging / EXPORT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        parity: dict[str, dict[str, float]] = {}
        if check_parity:
            for variant, filename in files.items():
                encoder = OnnxEncoder(
                    name=display,
                    fingerprint="",
                    dimension=meta["dimension"],
                    max_seq_length=max_seq_length,
                    session=make_session(staging / filename),
                    tokenizer=load_tokenizer(staging / TOKENIZER_FILE, max_seq_length, meta["pad_id"], meta["pad_token"]),
                )
                parity[variant] = measure_parity(reference, encoder, texts)
            if parity["fp32"]["min_cosine"] < FP32_MIN_COSINE:
                raise ModelError(
                    f"ONNX export of {display} does not match torch (min cosine {parity['fp32']['min_cosine']:.4f}); nothing written"
                )
            meta["parity"] = {**parity, "texts": len(texts), "batch_sizes": list(PARITY_BATCH_SIZES)}
            (staging / EXPORT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            _keep_other_variant(target, staging, meta)
        publish_directory(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(directory=target, files=files, parity=parity)


def ensure_export(model: str, backend: str, models_dir: Path, log: Callable[[str], None] = print) -> None:
    """Export `model` (a model directory) for `backend` unless a current export is there already, so a
    version is servable the moment it is registered or switched to."""
    from rag.encoders import load_onnx_encoder

    if backend == "torch":
        return
    quantized = backend == "onnx-int8"
    try:
        load_onnx_encoder(model, models_dir, quantized=quantized)
        return
    except ModelError as exc:
        log(f"{exc}: exporting {model} to ONNX for the {backend} backend")
    export_onnx(model, quantize=quantized, models_dir=models_dir)


def _keep_other_variant(target: Path, staging: Path, meta: dict[str, Any]) -> None:
    """A plain re-export keeps an existing int8 file of the same source model (it stays valid)."""
    old_meta_path = target / EXPORT_FILE
    if "int8" in meta["files"] or not (target / INT8_FILE).is_file() or not old_meta_path.is_file():
        return
    old = json.loads(old_meta_path.read_text(encoding="utf-8"))
    if old.get("source_fingerprint") != meta["source_fingerprint"]:
        return
    shutil.copyfile(target / INT8_FILE, staging / INT8_FILE)
    meta["files"]["int8"] = INT8_FILE
    meta["int8"] = old.get("int8")
    if "int8" in old.get("parity", {}) and "parity" in meta:
        meta["parity"]["int8"] = old["parity"]["int8"]
    (staging / EXPORT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _save_tokenizer_json(model: Any, directory: Path) -> None:
    """Write the loaded model's fast tokenizer as tokenizer.json into `directory`."""
    scratch = directory / "tokenizer"
    model.tokenizer.save_pretrained(str(scratch))
    if not (scratch / TOKENIZER_FILE).is_file():
        raise ModelError("ONNX export needs a fast tokenizer (tokenizer.json); this model's tokenizer has none")
    os.replace(scratch / TOKENIZER_FILE, directory / TOKENIZER_FILE)
    shutil.rmtree(scratch)
