"""`coderag ui`: bad flags fail fast with one line, logins, and the real command serving offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.ui_process import ui_process

from rag.errors import ConfigError

CODERAG = [sys.executable, "-m", "ui.cli"]


def test_unknown_database_fails_before_models_load(coderag_home: Path) -> None:
    started = time.perf_counter()
    proc = subprocess.run([*CODERAG, "ui", "--db", "no_such_db"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4
    assert proc.stderr.strip().startswith("error: database not found: no_such_db")
    assert len(proc.stderr.strip().splitlines()) <= 2 and "Traceback" not in proc.stderr
    assert time.perf_counter() - started < 60


def test_login_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.settings import load_settings

    monkeypatch.setenv("CODERAG_UI__USERNAME", "ana")
    monkeypatch.setenv("CODERAG_UI__PASSWORD", "s3cret")
    settings = load_settings()
    assert settings.ui.username == "ana" and settings.ui.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.ui.host == "127.0.0.1"


def test_a_username_without_a_password_is_refused(service, port: int) -> None:
    from ui.app import build_app, launch

    service.settings.ui.username = "ana"
    with pytest.raises(ConfigError, match="set both ui.username and ui.password"):
        launch(build_app(service), service, port=port, block=False, quiet=True)


def test_login_is_required_when_configured(service, port: int) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError
    from pydantic import SecretStr

    from ui.app import build_app, launch

    service.settings.ui.username, service.settings.ui.password = "ana", SecretStr("s3cret")
    demo = build_app(service)
    url = launch(demo, service, port=port, block=False, quiet=True)
    try:
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):  # AuthenticationError or ValueError, by version
            Client(url, auth=("ana", "wrong"), verbose=False)
        client = Client(url, auth=("ana", "s3cret"), verbose=False)
        assert client.predict("How many books are in the catalog?", [], True, 3, api_name="/ask")[3]["data"] == [[60]]
    finally:
        demo.close()


@pytest.mark.slow
def test_coderag_ui_serves_offline_on_loopback(default_index, coderag_home: Path, port: int, tmp_path: Path) -> None:
    """The real command with the embedded defaults (bundled encoder, knn, no GGUF), no network."""
    from gradio_client import Client

    env = {
        **os.environ,
        "CODERAG_HOME": str(coderag_home),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TMPDIR": str(tmp_path),
    }
    env.pop("GRADIO_TEMP_DIR", None)
    with ui_process([], env, port) as served:
        answer = Client(served.url, verbose=False).predict("How many books are in the catalog?", [], True, 3, api_name="/ask")
        assert answer[2] == "SELECT COUNT(*) AS book_count FROM books"
        (private,) = tmp_path.glob("coderag-ui-*")
        assert oct(private.stat().st_mode & 0o777) == "0o700"
    output = served.output
    assert served.returncode == 0, output  # SIGTERM shuts down cleanly ...
    assert list(tmp_path.glob("coderag-ui-*")) == []  # ... and removes the private upload directory
    assert "No LLM is configured" in output
    assert f"http://127.0.0.1:{port}" in output
    assert "gradio.live" not in output


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({"CODERAG_UI__USERNAME": "", "CODERAG_UI__PASSWORD": "pw"}, [], "must not be empty or whitespace"),
        ({"CODERAG_UI__USERNAME": "ana", "CODERAG_UI__PASSWORD": "   "}, [], "must not be empty or whitespace"),
        ({}, ["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without a login"),
        ({}, ["--share"], "refusing to serve on a public share link without a login"),
    ],
)
def test_an_open_or_blank_login_refuses_to_start(coderag, env: dict[str, str], argv: list[str], message: str) -> None:
    """Before any model loads: one line, exit 2."""
    result = coderag("ui", *argv, env=env)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr


def test_insecure_serves_beyond_loopback_without_a_login_only_when_asked() -> None:
    from rag.settings import load_settings
    from ui.app import check_exposure

    ui = load_settings(ui={"host": "0.0.0.0"}).ui
    with pytest.raises(ConfigError, match="--insecure"):
        check_exposure(ui, ui.host, share=False, insecure=False)
    assert check_exposure(ui, ui.host, share=False, insecure=True) is None
    assert check_exposure(load_settings().ui, "127.0.0.1", share=False, insecure=False) is None
    assert check_exposure(load_settings(ui={"username": "a", "password": "b"}).ui, "0.0.0.0", share=True, insecure=False) == ("a", "b")
