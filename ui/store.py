"""Example stores: the question → SQL pairs users confirmed with "save as example", one JSONL
file per database under `settings.home/examples/<db key>.jsonl`.

Each save appends one line under an exclusive file lock and fsyncs it, so concurrent saves
(threads or two `coderag ui` processes) never interleave and a crash loses at most the line
being written; a torn last line is skipped when reading.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
from pathlib import Path

from rag.corpus import Example

log = logging.getLogger(__name__)


def example_id(db_key: str, question: str, sql: str) -> str:
    """Stable id: saving the same question → SQL twice is a no-op."""
    digest = hashlib.sha256(json.dumps([db_key, question, sql]).encode()).hexdigest()[:12]
    return f"ui-{db_key}-{digest}"


class ExampleStore:
    """Append-only JSONL files of `Example` records, one per database key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, db_key: str) -> Path:
        return self.root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', db_key)}.jsonl"

    def append(self, example: Example) -> Path:
        path = self.path_for(example.db_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(example.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return path

    def load(self, db_key: str) -> list[Example]:
        return self._read(self.path_for(db_key))

    def load_all(self) -> list[Example]:
        if not self.root.is_dir():
            return []
        return [ex for path in sorted(self.root.glob("*.jsonl")) for ex in self._read(path)]

    @staticmethod
    def _read(path: Path) -> list[Example]:
        if not path.is_file():
            return []
        out = []
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    out.append(Example.from_dict(json.loads(line)))
                except (ValueError, TypeError):
                    log.warning("%s:%d: skipping an unreadable example line", path, number)
        return out
