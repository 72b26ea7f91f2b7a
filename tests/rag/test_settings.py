"""Settings: YAML defaults, CODERAG_* environment overrides, CLI overrides on top, clear errors."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from rag.settings import load_settings


def test_defaults_come_from_configs_default_yaml():
    settings = load_settings()
    assert settings.retrieval.k == 3 and settings.generator == "auto" and settings.default_db == "bookshop"
    assert settings.execution.timeout_s == 5 and settings.llm.temperature == 0.0


def test_environment_then_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("CODERAG_RETRIEVAL__K", "5")
    monkeypatch.setenv("CODERAG_LLM__MODEL_PATH", str(tmp_path / "m.gguf"))
    settings = load_settings()
    assert settings.retrieval.k == 5 and settings.llm.model_path == tmp_path / "m.gguf"
    assert load_settings(retrieval={"k": 1}, llm={"model_path": None}).retrieval.k == 1
    assert load_settings(llm={"model_path": None}).llm.model_path == tmp_path / "m.gguf"  # None leaves it alone


def test_home_moves_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("CODERAG_HOME", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert settings.index_dir == tmp_path / "elsewhere" / "indexes"
    assert settings.models_dir == tmp_path / "elsewhere" / "models"


def test_other_config_file_and_errors(monkeypatch, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("retrieval:\n  k: 7\nexecution:\n  max_rows: 10\n")
    monkeypatch.setenv("CODERAG_CONFIG", str(config))
    settings = load_settings()
    assert settings.retrieval.k == 7 and settings.execution.max_rows == 10 and settings.execution.timeout_s == 5
    config.write_text("retrieval: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings()
    config.write_text("retrieval:\n  k: -1\n")
    with pytest.raises(ConfigError, match="invalid setting retrieval.k"):
        load_settings()
    config.write_text("surprise: 1\n")
    with pytest.raises(ConfigError, match="invalid setting surprise"):
        load_settings()
    monkeypatch.setenv("CODERAG_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings()
