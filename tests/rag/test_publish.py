"""The one atomic directory publish (rag/publish.py): a built directory replaces its target whole,
or, for a cache, the first one published stays; a block that fails leaves nothing behind.
(Versioned publishes survive SIGKILL at every step: tests/rag/test_index_crash.py.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rag.publish import building, current_version, publish_directory, publish_version


def _built(parent: Path, name: str, text: str) -> Path:
    built = parent / name
    built.mkdir(mode=0o700)
    (built / "file.txt").write_text(text, encoding="utf-8")
    return built


def test_a_published_directory_replaces_the_old_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "model"
    publish_directory(_built(tmp_path, ".a.tmp", "first"), out)
    (out / "only-in-first.txt").write_text("x", encoding="utf-8")
    publish_directory(_built(tmp_path, ".b.tmp", "second"), out)
    assert sorted(p.name for p in out.iterdir()) == ["file.txt"]
    assert (out / "file.txt").read_text(encoding="utf-8") == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing retired is left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700


def test_without_replace_the_first_published_stays(tmp_path: Path) -> None:
    out = tmp_path / "cache"
    publish_directory(_built(tmp_path, ".a.tmp", "first"), out, replace=False)
    publish_directory(_built(tmp_path, ".b.tmp", "second"), out, replace=False)
    assert (out / "file.txt").read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_building_publishes_on_success_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "export"
    with pytest.raises(RuntimeError), building(out) as staging:
        (staging / "half.txt").write_text("x", encoding="utf-8")
        raise RuntimeError("the build failed")
    assert list(tmp_path.iterdir()) == []
    with building(out) as staging:
        (staging / "whole.txt").write_text("x", encoding="utf-8")
    assert [p.name for p in out.iterdir()] == ["whole.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_versioned_publish_switches_a_symlink_and_keeps_the_previous_version(tmp_path: Path) -> None:
    directory = tmp_path / "idx"
    for text in ("one", "two", "three"):
        publish_version(directory, lambda staging, text=text: (staging / "data.txt").write_text(text, encoding="utf-8"))
    assert directory.is_symlink() and (directory / "data.txt").read_text(encoding="utf-8") == "three"
    assert current_version(directory) == directory.resolve()
    versions = sorted(p.name for p in tmp_path.iterdir() if ".v" in p.name)
    assert len(versions) == 2  # the current one and the one a reader may still be loading
