"""UI fixtures: a UIService over the session encoder and default index (knn generator, no LLM),
a running app on a free loopback port, and helpers to make SQLite files."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
APP_TOKEN = "running-app-token"  # the running app's token: a browser that opened `?token=` may change shared things


def make_service(home: Path, encoder, index, *, shared_saves: bool = True, **settings_overrides):
    from rag.chain import TextToSQL
    from rag.generators import NO_LLM_NOTICE, KnnGenerator
    from rag.settings import load_settings
    from ui.service import UIService

    settings = load_settings(home=home, **settings_overrides)
    service = UIService(TextToSQL(settings, index, encoder, KnnGenerator(), notice=NO_LLM_NOTICE), index_dir=home / "index")
    service.shared_saves = shared_saves  # as behind a login (`launch` sets it from the login and ui.allow_shared_save)
    return service


@pytest.fixture
def service(tmp_path: Path, encoder, default_index) -> Iterator:
    """A fresh service per test (its own home, example store and index directory)."""
    with make_service(tmp_path / "home", encoder, default_index) as svc:
        yield svc


@pytest.fixture
def session(service):
    from ui.session import Session

    return Session(db=service.default_db)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    """A free loopback port."""
    return free_port()


def register(home: Path, name: str, path: Path) -> None:
    """Register a SQLite file under `name`, as `coderag db add` does (without synthesizing examples)."""
    from rag.databases import describe, resolve_db
    from rag.registry import Registry, schema_fingerprint

    ref = describe(resolve_db(str(path), home))
    Registry(home).add(name, path, schema_fingerprint(ref.schema), tables=ref.tables)


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The running app's CODERAG_HOME, with a database registered as `pets`."""
    home = tmp_path_factory.mktemp("ui_app_home")
    register(home / "home", "pets", write_sqlite(home / "pets.sqlite", PETS_SCRIPT))
    return home / "home"


@pytest.fixture(scope="module")
def running_app(app_home: Path, encoder, default_index) -> Iterator[str]:
    """The real Gradio server in this process, on a free loopback port; yields its URL."""
    from ui.app import build_app, launch

    with make_service(app_home, encoder, default_index, ui={"token": APP_TOKEN}) as svc:
        demo = build_app(svc)
        url = launch(demo, svc, host="127.0.0.1", port=free_port(), block=False, quiet=True)
        try:
            yield url
        finally:
            demo.close()


@pytest.fixture
def app_token() -> str:
    """The running app's token (ui.token): the page opened with `?token=` may change shared things."""
    return APP_TOKEN


def write_sqlite(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


PETS_SCRIPT = """
CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, species TEXT NOT NULL, age INTEGER);
INSERT INTO pets (name, species, age) VALUES ('Rex', 'dog', 3), ('Tom', 'cat', 5), ('Nemo', 'fish', 1);
"""


@pytest.fixture
def pets_script() -> str:
    """A one-table schema with three rows (a pasted schema, or the script of an upload)."""
    return PETS_SCRIPT


@pytest.fixture
def pets(service, tmp_path: Path):
    """A session on a database registered as `pets` in the service's home (no examples yet)."""
    from ui.session import Session

    register(service.settings.home, "pets", write_sqlite(tmp_path / "registered pets.sqlite", PETS_SCRIPT))
    return Session(db=service.database("pets"))


@pytest.fixture
def pets_db(tmp_path: Path) -> Path:
    """A small SQLite file no example store knows about (stands in for a user's upload)."""
    return write_sqlite(tmp_path / "my pets.sqlite", PETS_SCRIPT)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    return CHROMIUM
