"""Publishing a directory atomically: a reader, or a crash, sees the old directory or the new one,
never half of either. The one way every package publishes a directory (files: rag.io's atomic write).

- `building(target)` / `publish_directory(built, target)`: a directory is built privately beside
  its target, then renamed into place; an existing target is moved aside first and removed after
  (models, exports), or, with `replace=False`, kept (the first one published wins: a cache).
- `publish_version(directory, write)`: `directory` is a symlink to its current version
  (`.NAME.v<time>`); `write` fills a new version, which the symlink is switched to with one
  rename. Readers resolve it once (`current_version`), so one saving while another loads never
  mixes two versions (indexes). One publish per directory at a time (a lock file); leftovers of
  crashed publishes and versions older than the previous one are removed.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import CodeRagError

HOOK: Callable[[str], None] | None = None  # called between the steps of a versioned publish (crash tests)
LOCK_WAIT_S = 300.0


@contextmanager
def building(target: Path, *, replace: bool = True) -> Iterator[Path]:
    """A fresh private directory beside `target`, published to it (`publish_directory`) when the
    block ends without an error, and removed otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield staging
        publish_directory(staging, target, replace=replace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_directory(built: Path, out: Path, *, replace: bool = True) -> Path:
    """Move a finished directory into place, replacing `out` only once the new one is complete.
    With `replace=False` an `out` that exists already (another process published it first) is
    kept and `built` removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _default_mode(built)
    if not replace:
        try:
            os.replace(built, out)
        except OSError:  # a non-empty directory is there: another process published it first
            if not out.is_dir():
                raise
            shutil.rmtree(built, ignore_errors=True)
        return out
    retired = None
    if out.exists():
        retired = out.with_name(f".{out.name}.{os.getpid()}.old")
        os.replace(out, retired)
    os.replace(built, out)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    return out


def _default_mode(directory: Path) -> None:
    """mkdtemp makes 0700 directories; give the published one the mode a plain mkdir would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)


# -- versions: `<name>` is a symlink to `.<name>.v<time>`, switched atomically ---------------------------


def publish_version(
    directory: Path, write: Callable[[Path], None], *, what: str = "directory", error: type[CodeRagError] = CodeRagError
) -> Path:
    """Fill a new version directory beside `directory` with `write(staging)`, then point `directory`
    (a symlink) at it with one atomic rename, so a crash at any point leaves the old version or the
    new one. Waiting past LOCK_WAIT_S for another publish of the same directory raises `error`."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _lock(directory, what, error):
        _remove_stale(directory)
        version = directory.with_name(f".{directory.name}.v{time.time_ns()}")
        staging = version.with_name(version.name + ".tmp")
        staging.mkdir()
        _step("staging")
        write(staging)
        for path in sorted(staging.iterdir()):
            if path.is_file():
                _fsync(path)
        _step("written")
        os.rename(staging, version)
        _fsync(directory.parent)
        _step("renamed")
        _point(directory, version)
        _step("switched")
        _remove_stale(directory)
    return directory


def _step(name: str) -> None:
    if HOOK is not None:
        HOOK(name)


def current_version(directory: Path) -> Path | None:
    """The directory holding the files now: `directory` itself (a real directory, or the symlink's
    target), or, when a crash left no `directory` while moving an old-style one aside, the newest
    complete version beside it. None when nothing was published."""
    if directory.is_dir():
        return directory.resolve()
    versions = _versions(directory)
    return versions[-1] if versions else None


def _versions(directory: Path) -> list[Path]:
    """Complete versions of `directory`, oldest first (a version is complete once renamed from staging)."""
    pattern = re.compile(rf"\.{re.escape(directory.name)}\.v\d+")
    if not directory.parent.is_dir():
        return []
    return sorted(
        (p for p in directory.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir()), key=lambda p: int(p.name.rsplit(".v", 1)[1])
    )


def _point(directory: Path, version: Path) -> None:
    """Make `directory` a symlink to `version` with one rename (an old-style real directory is first moved aside as a version)."""
    link = directory.with_name(f".{directory.name}.link{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    if directory.is_dir() and not directory.is_symlink():
        os.rename(directory, directory.with_name(f".{directory.name}.v0"))
        _step("moved-aside")
    os.replace(link, directory)
    _fsync(directory.parent)


def _remove_stale(directory: Path) -> None:
    """Leftovers of crashed publishes (staging directories, links, the old layout's .tmp/.old) and every
    version but the newest two and the current one (a reader may still be loading the previous one)."""
    leftover = re.compile(rf"\.{re.escape(directory.name)}\.(?:v\d+|v\d+\.tmp|link\d+|\w+\.(?:tmp|old))")
    keep = set(_versions(directory)[-2:]) | ({directory.resolve()} if directory.is_symlink() else set())
    for path in directory.parent.iterdir():
        if path in keep or not leftover.fullmatch(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def _lock(directory: Path, what: str, error: type[CodeRagError]) -> Iterator[None]:
    """One publish per directory at a time, across processes (flock on `.<name>.lock`); waiting past
    LOCK_WAIT_S is a one-line `error`."""
    with directory.with_name(f".{directory.name}.lock").open("a") as handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(f"another process has been saving {what} {directory} for {LOCK_WAIT_S:g} s; try again later") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
