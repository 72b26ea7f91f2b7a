"""The code is lint-clean and type-checked: ruff (lint and format, configured in pyproject.toml)
and mypy (pyproject's [tool.mypy]), so `make test` and CI fail on a new finding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["rag", "ui", "synth", "embedder", "eval", "tests", "benchmarks", "docs/hooks"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-cache", *TREES)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", *TREES)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.slow  # about a minute on 2 cores
def test_mypy_finds_nothing() -> None:
    done = _run("mypy", "--no-incremental")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
