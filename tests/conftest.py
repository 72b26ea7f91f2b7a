"""Shared fixtures: an isolated CODERAG_HOME, the bundled encoder loaded once, a tiny GGUF file,
and `coderag`, the real command line run in this process.

Package-specific fixtures live in tests/<package>/conftest.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.cli import CliResult, invoke_main  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Fixtures that load a model, an index or an LLM runtime (slow), start a database server (server) or
# drive a browser (browser). A test that uses one, directly or through another fixture, carries the
# mark, so `make test-fast` (`-m "not slow and not server and not browser"`) leaves it out.
MARK_BY_FIXTURE = {
    "encoder": "slow",
    "shipped_encoder": "slow",
    "default_index": "slow",
    "tiny_gguf": "slow",
    "tiny_model": "slow",
    "knn_run": "slow",
    "postgres_server": "server",
    "mariadb_server": "server",
    "chromium": "browser",
}


# Parameters that name a server engine: fixtures asked for by name at run time (`getfixturevalue`)
# follow them, so a test with one of these parameters starts a server.
SERVER_PARAMS = frozenset({"postgresql", "postgres", "mysql", "mariadb", "postgres_server", "mariadb_server"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the expensive fixtures it uses (before `-m` selects)."""
    for item in items:
        for name in sorted(set(getattr(item, "fixturenames", ())) & MARK_BY_FIXTURE.keys()):
            item.add_marker(MARK_BY_FIXTURE[name])
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(value, str) and value in SERVER_PARAMS for value in params.values()):
            item.add_marker("server")


@pytest.fixture(scope="session")
def coderag_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CODERAG_HOME for the session, so the default index is built once."""
    return tmp_path_factory.mktemp("coderag_home")


@pytest.fixture(autouse=True)
def _isolated_home(coderag_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODERAG_HOME", str(coderag_home))
    for name in list(os.environ):
        if name.startswith("CODERAG_") and name != "CODERAG_HOME":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def encoder():
    """The bundled all-MiniLM-L6-v2 encoder, loaded once per session (treat it as read-only)."""
    from rag.encoders import load_encoder

    return load_encoder("bundled")


@pytest.fixture(scope="session")
def shipped_encoder() -> Callable[[], object]:
    """The shipped int8 retriever (the default embedder): loaded by the first call, once per session."""
    import functools

    from rag.encoders import load_encoder

    return functools.cache(lambda: load_encoder("shipped", backend="onnx-int8"))


@pytest.fixture(scope="module")
def hostile_llm():
    """A misbehaving OpenAI-compatible server on a loopback port (tests/fixtures/hostile_llm.py)."""
    from fixtures.hostile_llm import HostileLLM

    with HostileLLM() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL (Debian's package) on a private loopback port, for the whole session."""
    from fixtures.servers import PostgresServer, find_postgres

    bindir = find_postgres()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package; `make system-deps` installs it as root)")
    server = PostgresServer(bindir)
    try:
        server.start()
        server.create_roles()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server():
    """A real MariaDB (Debian's mariadb-server) on a private loopback port, for the whole session."""
    from fixtures.servers import MariaDBServer, find_mariadb

    binaries = find_mariadb()
    if binaries is None:
        pytest.skip("MariaDB is not installed (Debian's mariadb-server package; `make system-deps` installs it as root)")
    server = MariaDBServer(binaries)
    try:
        server.start()
        server.create_roles()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weights llama-architecture GGUF: the real llama.cpp runtime without real weights."""
    from fixtures.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def settings(coderag_home: Path):
    from rag.settings import load_settings

    return load_settings(home=coderag_home)


@pytest.fixture(scope="session")
def default_index(coderag_home: Path, encoder):
    """The `default` corpus index (bundled train split + demo stores), built once per session."""
    from rag.index import get_index
    from rag.settings import load_settings

    os.environ["CODERAG_HOME"] = str(coderag_home)
    return get_index(load_settings(home=coderag_home), encoder, "default", show_progress=False)


@pytest.fixture
def coderag(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, encoder, shipped_encoder) -> Callable[..., CliResult]:
    """Run `coderag ARGS` in this process: (exit code, stdout, stderr), like the installed command.

    A command that loads the bundled torch encoder or the shipped int8 one gets the session's copy
    instead of loading it again (the expensive part of a subprocess test); every other model loads
    for real. `env` sets environment variables for the rest of the test. A few tests per package
    still run the real process, for exit codes and the absence of tracebacks as a user sees them."""
    import rag.encoders

    load = rag.encoders.load_encoder

    def load_shared(name: str = "bundled", *, backend: str = "torch", **options: object):
        if (name, backend) == ("bundled", "torch"):
            return encoder
        if (name, backend) == ("shipped", "onnx-int8") and not options.get("max_seq_length"):
            return shipped_encoder()
        return load(name, backend=backend, **options)

    monkeypatch.setattr(rag.encoders, "load_encoder", load_shared)

    def run(*argv: str, env: dict[str, str] | None = None) -> CliResult:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = invoke_main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
