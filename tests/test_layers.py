"""The layers contract (pyproject.toml, `lint-imports`): doors open one way, no import cycles.

A wrong arrow (say `rag.index` importing `embedder`) fails here, and so does a new `rag` module
that the contract does not place in a layer.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["id"] == contract_id)


def test_lint_imports_keeps_every_contract() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_every_rag_module_has_a_layer() -> None:
    named = {m.strip() for layer in _contract("layers")["layers"] for m in layer.replace("|", ":").split(":")}
    modules = {f"rag.{p.stem}" for p in (ROOT / "rag").glob("*.py") if p.stem != "__init__"}
    assert modules <= named, f"not placed in a layer: {sorted(modules - named)}"
    assert {"ui", "embedder", "eval", "synth"} <= named
