"""The docs: the MkDocs site builds with --strict (a broken link or anchor fails), its generated
pages hold what the code says, and the README stays short with every relative link pointing at a
file that exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_LIMIT = 10_000  # bytes (issue 28: a README of at most 10 KB)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once by `mkdocs build --strict` into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def _setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _setting_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_site_builds_strict_with_the_pictures(site: Path) -> None:
    assert (site / "index.html").is_file()
    for picture in (ROOT / "docs").glob("*.png"):
        assert (site / picture.name).is_file(), picture.name


def test_configuration_page_lists_every_setting(site: Path) -> None:
    page = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    keys = _setting_keys(Settings)
    assert len(keys) > 50
    missing = [key for key in keys if f"<code>{key}</code>" not in page]
    assert not missing, f"settings missing from the generated configuration page: {missing}"


def test_architecture_page_shows_the_import_contracts(site: Path) -> None:
    page = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    for contract in contracts:
        assert f"<code>{contract['id']}</code>" in page
        for layer in contract.get("layers", []):
            for module in re.split(r"[:|]", layer):
                assert f"<code>{module.strip()}</code>" in page, module


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; at most {README_LIMIT} (move the detail to docs/)"


def test_readme_relative_links_point_at_files() -> None:
    targets = LINK.findall(README.read_text(encoding="utf-8"))
    relative = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert relative, "the README links into docs/"
    broken = [t for t in relative if not (ROOT / t.split("#", 1)[0]).exists()]
    assert not broken, f"README links to files that do not exist: {broken}"


def test_readme_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in text and f"\n{target}:" in makefile
