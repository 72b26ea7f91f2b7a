"""The version registry, `current_model` resolution, `embedder list/use` and the `coderag retrain` loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from embedder_testing import TRIPLETS, one_error_line

from embedder import retrain as retrain_module
from embedder.registry import add_version, set_current
from rag.errors import ConfigError, ModelError
from rag.models import current_model, read_registry
from rag.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CODERAG_HOME for each test (the registry lives in its models dir)."""
    monkeypatch.setenv("CODERAG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _current(settings):
    return current_model(settings.embedder.model, settings.models_dir)


def _register_tiny(home: Path, tiny_model: Path, name: str = "v1") -> Path:
    path = home / "models" / f"embedder-{name}"
    shutil.copytree(tiny_model, path)
    meta = json.loads((path / "training.json").read_text())
    add_version(home / "models", name, path, meta, make_current=True)
    return path


def test_current_model_resolution(home: Path, tiny_model: Path) -> None:
    settings = load_settings()
    assert _current(settings) == "shipped"  # no registry yet: the model in the package
    path = _register_tiny(home, tiny_model)
    assert _current(load_settings()) == str(path.resolve())
    assert _current(load_settings(embedder={"model": "/some/explicit/dir"})) == "/some/explicit/dir"
    assert _current(load_settings(embedder={"model": "bundled"})) == "bundled"  # explicit: all-MiniLM-L6-v2
    set_current(home / "models", "shipped")
    assert _current(load_settings()) == "shipped"
    with pytest.raises(ConfigError, match="a model, not a version"):
        set_current(home / "models", "bundled")
    set_current(home / "models", "v1")
    shutil.rmtree(path)
    with pytest.raises(ModelError, match="embedder use shipped"):
        _current(load_settings())


def test_registry_errors(home: Path, tiny_model: Path) -> None:
    models = home / "models"
    with pytest.raises(ConfigError, match="no registered version 'v9'"):
        set_current(models, "v9")
    _register_tiny(home, tiny_model)
    with pytest.raises(ConfigError, match="already registered"):
        add_version(models, "v1", tiny_model, {}, make_current=False)
    (models / "registry.json").write_text("{not json")
    with pytest.raises(ConfigError, match="corrupt"):
        read_registry(models)


def test_list_and_use_commands(coderag, home: Path, tiny_model: Path) -> None:
    _register_tiny(home, tiny_model)
    code, stdout, stderr = coderag("embedder", "list", "--json")
    assert code == 0, stderr
    registry = json.loads(stdout)
    assert registry["current"] == "v1" and [v["name"] for v in registry["versions"]] == ["v1"]
    code, stdout, _ = coderag("embedder", "list")
    assert code == 0 and "shipped" in stdout and "v1" in stdout
    code, stdout, _ = coderag("embedder", "use", "shipped")
    assert code == 0 and read_registry(home / "models")["current"] is None
    code, _, stderr = coderag("embedder", "use", "v1")  # serving reads int8 ONNX: switching exports it first
    assert code == 0 and "exporting" in stderr and read_registry(home / "models")["current"] == "v1"
    assert (home / "models" / "embedder-v1" / "onnx" / "model.int8.onnx").is_file()
    code, _, stderr = coderag("embedder", "use", "v7")
    assert code == 2 and "no registered version" in one_error_line(stderr)


def test_retrain_forced_registers_switches_and_rebuilds_the_index(coderag, home: Path, tiny_model: Path) -> None:
    _register_tiny(home, tiny_model)
    code, stdout, stderr = coderag("retrain", "--data", str(TRIPLETS), "--epochs", "1", "--force")
    assert code == 0, stderr
    registry = read_registry(home / "models")
    assert registry["current"] == "v2" and [v["name"] for v in registry["versions"]] == ["v1", "v2"]
    v2 = registry["versions"][1]
    assert Path(v2["path"]).name == "embedder-v2" and v2["base"].endswith("embedder-v1") and "mrr@10" in v2["metrics"]
    assert (Path(v2["path"]) / "onnx" / "model.int8.onnx").is_file()  # exported when registered
    assert "switched to v2" in stdout and "current" in stdout and "candidate" in stdout
    assert _current(load_settings()) == v2["path"]
    index_dirs = list((home / "indexes").iterdir())
    assert any(d.name.startswith("default--") for d in index_dirs)
    assert not [p for p in (home / "models").iterdir() if p.name.startswith(".")]  # no candidate left behind


def test_retrain_keeps_the_current_model_when_the_candidate_is_not_better(
    coderag, home: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(home, tiny_model)
    monkeypatch.setattr(retrain_module, "is_better", lambda candidate, current: False)
    code, stdout, stderr = coderag("retrain", "--data", str(TRIPLETS), "--epochs", "1")
    assert code == 0, stderr
    assert "kept" in stdout and "not better" in stdout
    registry = read_registry(home / "models")
    assert registry["current"] == "v1" and len(registry["versions"]) == 1
    assert sorted(p.name for p in (home / "models").iterdir()) == ["embedder-v1", "registry.json"]


def test_retrain_bad_data_changes_nothing(coderag, home: Path, tiny_model: Path, tmp_path: Path) -> None:
    _register_tiny(home, tiny_model)
    before = (home / "models" / "registry.json").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nq,a\n")
    code, _, stderr = coderag("retrain", "--data", str(bad))
    assert code == 3 and "lacks column" in one_error_line(stderr)
    assert (home / "models" / "registry.json").read_text() == before
