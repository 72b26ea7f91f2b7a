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
    with pytest.raises(ConfigError, match="unknown setting surprise"):
        load_settings()
    monkeypatch.setenv("CODERAG_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CODERAG_EXECUTION__TIMEOUT": "1"}, r"unknown setting execution.timeout .*did you mean execution.timeout_s\?"),
        ({"CODERAG_GENERATR": "knn"}, r"unknown setting CODERAG_GENERATR in the environment; did you mean CODERAG_GENERATOR\?"),
        ({"CODERAG_EXECUTION": "notjson"}, r"invalid setting: .*must be a JSON object"),
        ({"CODERAG_HOME": "/dev/null/x"}, r"invalid setting home: /dev/null is not a directory"),
        ({"CODERAG_EMBEDDER__DEVICE": "gpu"}, r"invalid setting embedder.device"),
    ],
)
def test_settings_errors_are_one_line_with_the_nearest_key(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()
    assert "\n" not in str(caught.value)


def test_unknown_yaml_keys_at_any_depth_are_errors(monkeypatch, tmp_path):
    config = tmp_path / "c.yaml"
    monkeypatch.setenv("CODERAG_CONFIG", str(config))
    config.write_text("llm:\n  model_pth: /x.gguf\n")
    with pytest.raises(ConfigError, match=r"unknown setting llm.model_pth .*did you mean llm.model_path\?"):
        load_settings()
    config.write_text("ui:\n  pasword: x\n")
    with pytest.raises(ConfigError, match=r"did you mean ui.password\?"):
        load_settings()


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", "secret", "must not be empty"),
        ("  ", "secret", "must not be empty"),
        ("me", " ", "must not be empty"),
        ("me", None, "set both"),
    ],
)
def test_a_blank_or_half_login_refuses(username, password, message):
    ui = load_settings(ui={"username": username, "password": password}).ui
    with pytest.raises(ConfigError, match=message):
        ui.login()
    assert load_settings(ui={"username": "me", "password": "pw"}).ui.login() == ("me", "pw")
    assert load_settings().ui.login() is None
