"""Serving stays lean: answering loads neither torch, transformers nor sentence-transformers (nor the other
heavy packages), and `coderag --help` loads none of the serving stack. Each case runs in a fresh process,
since a test process has imported half the world already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("torch", "transformers", "sentence_transformers", "datasets", "accelerate")
# LangChain costs about a second to import and an answer from retrieval alone does not need it
SERVING_HEAVY = (*TRAINING, "gradio", "llama_cpp", "langchain_core", "langchain_openai", "openai")

# Runs `coderag ARGS` through the real entry point, then writes the imported top-level packages to a file.
RUN_AND_LIST = """
import json, sys
out, sys.argv = sys.argv[1], ["coderag", *sys.argv[2:]]
code = 0
try:
    from ui.cli import main
    main()
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as handle:
        json.dump({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}, handle)
"""


def _imports(tmp_path: Path, home: Path, *argv: str) -> tuple[int, set[str], str]:
    listing = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODERAG_")}
    env.update(CODERAG_HOME=str(home), HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, str(listing), *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    result = json.loads(listing.read_text())
    return result["code"] or 0, set(result["modules"]), done.stderr


@pytest.mark.slow
def test_ask_with_the_default_settings_imports_no_training_stack(tmp_path: Path, coderag_home: Path) -> None:
    """The shipped int8 retriever on onnxruntime + tokenizers answers (index built on first use, then loaded)."""
    for _ in range(2):  # the first run builds the index, the second only loads it
        code, modules, stderr = _imports(
            tmp_path, coderag_home, "ask", "Which 5 authors sold the most books in 2024?", "--db", "bookshop", "--json"
        )
        assert code == 0, stderr
        assert not modules & set(SERVING_HEAVY), sorted(modules & set(SERVING_HEAVY))
        assert {"onnxruntime", "tokenizers", "faiss"} <= modules


@pytest.mark.slow
def test_eval_with_knn_and_plain_sql_import_no_training_stack(tmp_path: Path, coderag_home: Path) -> None:
    code, modules, stderr = _imports(tmp_path, coderag_home, "sql", "--db", "bookshop", "SELECT count(*) FROM books")
    assert code == 0, stderr
    assert not modules & set(SERVING_HEAVY)
    out = tmp_path / "eval"
    code, modules, stderr = _imports(
        tmp_path, coderag_home, "eval", "run", "--generator", "knn", "--limit", "3", "--no-baseline", "--out", str(out), "--no-progress"
    )
    assert code == 0, stderr
    assert not modules & set(TRAINING), sorted(modules & set(TRAINING))


def test_help_loads_no_serving_stack(tmp_path: Path, coderag_home: Path) -> None:
    """`coderag --help` and a subcommand's help: typer and rich, not numpy, sqlglot, pydantic-settings or models."""
    for argv in (("--help",), ("ask", "--help"), ("embedder", "finetune", "--help")):
        code, modules, stderr = _imports(tmp_path, coderag_home, *argv)
        assert code == 0, stderr
        loaded = modules & {*SERVING_HEAVY, "numpy", "faiss", "onnxruntime", "tokenizers", "sqlglot", "pydantic_settings"}
        assert not loaded, (argv, sorted(loaded))
