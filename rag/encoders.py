"""Runtime encoders: texts → L2-normalised float32 vectors, on torch or onnxruntime.

Each encoder encodes for one caller at a time (its own lock), so one instance can serve the UI's
concurrent requests.

`load_encoder(model, backend=...)`: `torch` runs sentence-transformers (imported only then);
`onnx` and `onnx-int8` run a model exported by `coderag embedder export-onnx` (or the shipped int8
model) with onnxruntime and the model's own fast tokenizer, so serving needs neither torch nor
transformers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ModelError
from rag.models import (
    BUNDLED,
    EXPORT_FILE,
    FP32_FILE,
    INT8_FILE,
    SHIPPED,
    TOKENIZER_FILE,
    current_model,
    export_dir_for,
    model_fingerprint,
    resolve_model,
    shipped_record,
)
from rag.settings import Settings

BACKENDS = ("torch", "onnx", "onnx-int8")


class Encoder(Protocol):
    name: str
    fingerprint: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray: ...


@dataclass
class SentenceTransformerEncoder:
    """A sentence-transformers model on torch."""

    name: str
    fingerprint: str
    model: Any = field(repr=False)
    backend: str = "torch"
    single_text_threads: int | None = 1  # one short text: extra torch threads mostly spin (see benchmarks)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        import torch

        with self._lock:  # the thread count is process-wide, and a fast tokenizer is not shareable across threads
            before = torch.get_num_threads()
            limit = self.single_text_threads if len(texts) == 1 and self.single_text_threads else None
            if limit:
                torch.set_num_threads(limit)
            try:
                vectors = self.model.encode(
                    texts,
                    batch_size=batch_size,
                    show_progress_bar=show_progress,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
            finally:
                if limit:
                    torch.set_num_threads(before)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def load_sentence_transformer(
    name: str, device: str = "cpu", max_seq_length: int | None = None, models_dir: Path | None = None
) -> tuple[Any, str, str]:
    """(model, display name, fingerprint) for 'shipped' (materialized under `models_dir`), 'bundled', a directory or a hub id."""
    display, directory = resolve_model(name, models_dir)
    check_torch_device(device)
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    try:
        if directory is not None:
            model = SentenceTransformer(str(directory), device=device, local_files_only=True)
            fp = model_fingerprint(directory)
        else:
            model = SentenceTransformer(name, device=device)
            fp = hashlib.sha256(json.dumps([name, _hub_revision(model)]).encode()).hexdigest()[:16]
    except ModelError:
        raise
    except (OSError, ValueError) as exc:
        where = str(directory) if directory else f"hub id '{name}'"
        hint = None if directory else "offline? pass a local model directory or 'bundled'"
        raise ModelError(f"could not load embedder {where}: {str(exc).splitlines()[0]}", hint=hint) from None
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model, display, fp


def check_torch_device(device: str) -> None:
    """A device this machine has, else a one-line ModelError (torch fails deep inside with an AssertionError)."""
    import torch

    kind, _, number = device.partition(":")
    backend = {"cuda": torch.cuda, "xpu": getattr(torch, "xpu", None)}.get(kind)
    if backend is not None:
        count = backend.device_count() if backend.is_available() else 0
        if int(number or 0) >= count:
            raise ModelError(
                f"embedder.device is {device}, but this machine has {count} {kind} device(s)", hint="set embedder.device to cpu"
            )
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ModelError("embedder.device is mps, but MPS is not available here", hint="set embedder.device to cpu")


def _hub_revision(model: Any) -> str:
    card = getattr(model, "model_card_data", None)
    return str(getattr(card, "base_model_revision", "") or "")


# -- onnxruntime ---------------------------------------------------------------------------------


def batch_feed(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The onnxruntime inputs (input_ids, attention_mask) of one padded batch."""
    encodings = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
    }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, path.stat().st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()


@dataclass
class OnnxEncoder:
    """An exported encoder on onnxruntime (CPU); same interface as the torch encoder."""

    name: str
    fingerprint: str
    dimension: int
    max_seq_length: int
    session: Any = field(repr=False)
    tokenizer: Any = field(repr=False)
    backend: str = "onnx"
    source: Path | None = None  # the export directory, so worker processes can open the same model
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sort by length so each batch pads little, as sentence-transformers does; restore order after.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        from tqdm.auto import tqdm

        with self._lock:  # the tokenizer's padding state is shared: one caller at a time
            for start in tqdm(range(0, len(texts), batch_size), desc="encoding", disable=not show_progress):
                chosen = order[start : start + batch_size]
                feed = batch_feed(self.tokenizer, [str(texts[i]).strip() for i in chosen])
                out[chosen] = self.session.run(None, feed)[0]
        return out


# -- many documents: several processes ------------------------------------------------------------

POOL_CHUNK = 512  # texts per task: large enough to batch well, small enough to keep every process busy
_worker_encoder: OnnxEncoder | None = None


def _start_worker(source: Path, quantized: bool, max_seq_length: int) -> None:
    global _worker_encoder
    meta = json.loads((source / EXPORT_FILE).read_text(encoding="utf-8"))
    _worker_encoder = open_onnx_export(source, meta, quantized=quantized, max_seq_length=max_seq_length, threads=1)


def _encode_chunk(texts: list[str], batch_size: int) -> np.ndarray:
    assert _worker_encoder is not None
    return _worker_encoder.encode(texts, batch_size=batch_size)


def encode_many(encoder: Encoder, texts: list[str], *, batch_size: int = 64, workers: int = 1, show_progress: bool = False) -> np.ndarray:
    """Embed many texts: with `workers` > 1 and an ONNX encoder, in that many processes of one thread
    each (texts sorted by length and handed out in chunks, so every batch pads little); otherwise in
    this process. Worker processes pay off from a few thousand texts on."""
    if workers <= 1 or not isinstance(encoder, OnnxEncoder) or encoder.source is None or len(texts) < 4 * POOL_CHUNK:
        return np.ascontiguousarray(encoder.encode(texts, batch_size=batch_size, show_progress=show_progress), dtype=np.float32)
    source = encoder.source
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = [order[start : start + POOL_CHUNK] for start in range(0, len(texts), POOL_CHUNK)]
    out = np.empty((len(texts), encoder.dimension), dtype=np.float32)
    quantized = encoder.backend == "onnx-int8"
    context = multiprocessing.get_context("spawn")  # a fresh onnxruntime per process, not a forked thread pool
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(source, quantized, encoder.max_seq_length)
    ) as pool:
        futures = [pool.submit(_encode_chunk, [texts[i] for i in chunk], batch_size) for chunk in chunks]
        with tqdm(total=len(texts), desc=f"embedding ({workers} processes)", unit="doc", disable=not show_progress) as bar:
            for chunk, future in zip(chunks, futures):
                out[chunk] = future.result()
                bar.update(len(chunk))
    return out


def load_tokenizer(path: Path, max_seq_length: int, pad_id: int, pad_token: str) -> Any:
    """The model's own fast tokenizer, truncating and padding like sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


def make_session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def load_onnx_encoder(
    name: str, models_dir: Path | None = None, *, quantized: bool = False, max_seq_length: int | None = None, threads: int | None = None
) -> OnnxEncoder:
    """The exported (fp32) or quantized (int8) model of `name`; it must have been exported first (the
    shipped model's int8 file is in the package). An export made from other weights than the model's
    current ones is refused by fingerprint."""
    directory = export_dir_for(name, models_dir, quantized=quantized)
    variant = INT8_FILE if quantized else FP32_FILE
    path, meta_path = directory / variant, directory / EXPORT_FILE
    command = f"coderag embedder export-onnx --model {name}" + (" --quantize int8" if quantized else "")
    if name == SHIPPED and quantized:
        command = "make model"
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"no ONNX export {path}", hint=f"run `{command}` first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"corrupt ONNX export record {meta_path}", hint=f"run `{command}` again") from None
    if name == SHIPPED and quantized:
        if meta.get("source_fingerprint") != shipped_record(directory)["fingerprint"]:
            raise ModelError(
                f"the shipped model's files in {directory} disagree (export.json and model.json)", hint=f"run `{command}` again"
            )
    elif name != BUNDLED:
        _, source = resolve_model(name, models_dir)
        if source is not None and meta.get("source_fingerprint") != model_fingerprint(source):
            raise ModelError(f"the ONNX export in {directory} belongs to an older version of the model", hint=f"run `{command}` again")
    try:
        return open_onnx_export(directory, meta, quantized=quantized, max_seq_length=max_seq_length, threads=threads)
    except ModelError as exc:
        raise ModelError(str(exc), hint=f"run `{command}` again") from None


def open_onnx_export(
    directory: Path, meta: dict[str, Any], *, quantized: bool, max_seq_length: int | None = None, threads: int | None = None
) -> OnnxEncoder:
    """The encoder of one export directory as it is (`meta`: its export.json); no freshness checks."""
    path = directory / (INT8_FILE if quantized else FP32_FILE)
    # a requested limit never exceeds the export's own (a longer input overruns the position table)
    length = min(int(max_seq_length or meta["max_seq_length"]), int(meta["max_seq_length"]))
    backend = "onnx-int8" if quantized else "onnx"
    # the token limit is part of it: documents truncated at another length give other vectors
    fingerprint = hashlib.sha256(f"{backend}:{meta['source_fingerprint']}:{_file_digest(path)}:{length}".encode()).hexdigest()[:16]
    try:
        session = make_session(path, threads)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"could not load {path}: {str(exc).splitlines()[0]}") from None
    return OnnxEncoder(
        name=f"{meta['source_name']} ({backend})",
        fingerprint=fingerprint,
        dimension=int(meta["dimension"]),
        max_seq_length=length,
        session=session,
        tokenizer=load_tokenizer(directory / TOKENIZER_FILE, length, int(meta["pad_id"]), str(meta["pad_token"])),
        backend=backend,
        source=directory,
    )


def load_encoder(
    name: str = BUNDLED,
    *,
    backend: str = "torch",
    device: str = "cpu",
    max_seq_length: int | None = None,
    models_dir: Path | None = None,
    query_threads: int | None = None,
) -> Encoder:
    """An encoder for `name` on `backend` (torch; onnx and onnx-int8 read an exported model, which for
    the bundled model lives under `models_dir`; the shipped model's int8 file is in the package, its
    torch weights are materialized under `models_dir`). `query_threads` caps torch threads for one-text
    encodes and sets the onnxruntime session's threads (on a shared CPU one thread answers a question
    fastest; large corpora are embedded by several one-thread processes, `encode_many`)."""
    if backend == "torch":
        model, display, fp = load_sentence_transformer(name, device, max_seq_length, models_dir)
        encoder = SentenceTransformerEncoder(name=display, fingerprint=fp, model=model)
        if query_threads:
            encoder.single_text_threads = query_threads
        return encoder
    if backend in ("onnx", "onnx-int8"):
        return load_onnx_encoder(name, models_dir, quantized=backend == "onnx-int8", max_seq_length=max_seq_length, threads=query_threads)
    raise ModelError(f"unknown embedder backend '{backend}' ({', '.join(BACKENDS)})")


def encoder_from_settings(settings: Settings, model: str | None = None) -> Encoder:
    """The configured embedder (`settings.embedder`); the default 'shipped' follows the registry's
    current version (`coderag embedder use` / `coderag retrain` switch it). `model` overrides the setting."""
    cfg = settings.embedder
    return load_encoder(
        current_model(model or cfg.model, settings.models_dir),
        backend=cfg.backend,
        device=cfg.device,
        max_seq_length=cfg.max_seq_length,
        models_dir=settings.models_dir,
        query_threads=cfg.query_threads,
    )
