"""Registered embedder versions and the current one: `settings.models_dir/registry.json`.

    {"current": "v2",
     "versions": [{"name": "v1", "path": ".../models/embedder-v1", "created": "...", "base": "...",
                   "fingerprint": "...", "data": {...}, "metrics": {...}}, ...]}

`coderag retrain` adds versions and switches `current`; `coderag embedder use NAME` switches by
hand (`use shipped` goes back to the shipped model). When `current` is set, the settings'
default embedder 'shipped' resolves to that version: `current_model(settings.embedder.model, settings.models_dir)`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, ModelError
from rag.io import write_json_atomic
from rag.models import (
    BUNDLED,
    DEFAULT_MODEL,
    find_version,
    read_registry,
    registry_path,
)

VERSION_PREFIX = "embedder-"


def next_version_name(registry: dict[str, Any]) -> str:
    numbers = [int(v["name"][1:]) for v in registry["versions"] if v["name"][:1] == "v" and v["name"][1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


def add_version(models_dir: Path, name: str, path: Path, metadata: dict[str, Any], *, make_current: bool) -> dict[str, Any]:
    """Record a model directory as version `name` (optionally the current one) and save the registry."""
    registry = read_registry(models_dir)
    if find_version(registry, name):
        raise ConfigError(f"version '{name}' is already registered")
    entry = {
        "name": name,
        "path": str(Path(path).resolve()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "base": metadata.get("base", {}).get("spec"),
        "fingerprint": metadata.get("fingerprint"),
        "data": {k: metadata.get("data", {}).get(k) for k in ("path", "rows_used", "fingerprint")},
        "metrics": metadata.get("metrics", {}).get("after", {}).get("bundled", {}),
    }
    registry["versions"].append(entry)
    if make_current:
        registry["current"] = name
    write_json_atomic(registry_path(models_dir), registry)
    return entry


def set_current(models_dir: Path, name: str) -> dict[str, Any]:
    """Make version `name` current; `shipped` clears it (the shipped model is used again)."""
    registry = read_registry(models_dir)
    if name == DEFAULT_MODEL:
        registry["current"] = None
    elif name == BUNDLED:
        raise ConfigError(
            f"'{BUNDLED}' is a model, not a version", hint=f"set embedder.model: {BUNDLED} (or --embedder {BUNDLED}) to use it"
        )
    else:
        entry = find_version(registry, name)
        if entry is None:
            known = ", ".join(v["name"] for v in registry["versions"]) or "none"
            raise ConfigError(f"no registered version '{name}' (registered: {known}; or '{DEFAULT_MODEL}')")
        if not Path(entry["path"]).is_dir():
            raise ModelError(f"version '{name}' points at {entry['path']}, which no longer exists")
        registry["current"] = name
    write_json_atomic(registry_path(models_dir), registry)
    return registry
