"""Index artifacts survive crashes and refuse corruption in one line: SIGKILL at every step of a
save leaves the old index or the new one; leftovers are cleaned by the next save; saves queue on a
lock; a FAISS header that lies about its size, a document field of the wrong type, a manifest
for another corpus or template, or another embedder's dimension are one-line IndexStoreErrors."""

from __future__ import annotations

import fcntl
import json
import signal
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest

import rag.publish
from rag.documents import Document
from rag.errors import IndexStoreError
from rag.index import VectorIndex, check_request
from rag.publish import current_version

DIMENSION = 8
STEPS = ["staging", "written", "renamed", "switched"]


def tiny_index(count: int, template: str = "question_sql", corpus: str = "test") -> VectorIndex:
    """An index of `count` documents with random vectors (no encoder needed)."""
    vectors = np.random.default_rng(count).standard_normal((count, DIMENSION)).astype("float32")
    index = faiss.IndexFlatIP(DIMENSION)
    index.add(vectors)
    documents = [Document(f"d{i}", f"text {i}", f"question {i}", "SELECT 1", "shop", "", {}) for i in range(count)]
    manifest = {
        "format_version": 1,
        "embedder": "test",
        "embedder_fingerprint": "f" * 16,
        "dimension": DIMENSION,
        "template": template,
        "corpus": corpus,
        "corpus_fingerprint": str(count),
        "count": count,
    }
    return VectorIndex(index=index, documents=documents, manifest=manifest)


SAVE_IN_A_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    import rag.publish
    from test_index_crash import tiny_index

    def pause(step):
        if step == sys.argv[2]:
            print(step, flush=True)
            time.sleep(600)

    rag.publish.HOOK = pause
    tiny_index(int(sys.argv[3])).save(Path(sys.argv[1]))
    print("saved", flush=True)
    """
)


def _save_and_kill(directory: Path, step: str, count: int) -> None:
    """Save an index of `count` documents in another process and SIGKILL it at `step`."""
    child = subprocess.Popen(
        [sys.executable, "-c", SAVE_IN_A_CHILD, str(directory), step, str(count), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == step
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_any_step_of_a_save_leaves_the_old_or_the_new_index(tmp_path: Path, step: str) -> None:
    directory = tmp_path / "idx"
    tiny_index(3).save(directory)
    _save_and_kill(directory, step, 5)
    expected = 5 if step == "switched" else 3
    assert VectorIndex.load(directory).manifest["count"] == expected
    tiny_index(7).save(directory)  # the next save cleans what the killed one left
    assert VectorIndex.load(directory).manifest["count"] == 7
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert [n for n in hidden if n.endswith((".tmp", ".old")) or ".link" in n] == []
    assert len([n for n in hidden if ".v" in n]) <= 2  # the current version and the one before it


def test_sigkill_while_moving_an_old_layout_aside_leaves_an_index(tmp_path: Path) -> None:
    """An index saved before versions is a real directory; the first new save moves it aside."""
    directory = tmp_path / "idx"
    staged = tmp_path / "staged"
    tiny_index(3).save(staged)
    directory.mkdir()
    for path in current_version(staged).iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    _save_and_kill(directory, "moved-aside", 5)  # both versions are complete; the newest is found
    assert not directory.exists() and VectorIndex.load(directory).manifest["count"] == 5
    tiny_index(5).save(directory)
    assert directory.is_symlink() and VectorIndex.load(directory).manifest["count"] == 5


def test_saves_queue_on_a_lock_and_a_stuck_one_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "idx"
    with (tmp_path / ".idx.lock").open("a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        monkeypatch.setattr(rag.publish, "LOCK_WAIT_S", 0.2)
        with pytest.raises(IndexStoreError, match="another process has been saving"):
            tiny_index(3).save(directory)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SAVE_IN_A_CHILD, str(directory), "never", str(n), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (3, 4, 5, 6)
    ]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0 and out.strip() == "saved", err[-500:]
    assert VectorIndex.load(directory).manifest["count"] in (3, 4, 5, 6)


def _saved(tmp_path: Path) -> Path:
    tiny_index(4).save(tmp_path / "idx")
    return current_version(tmp_path / "idx")


def test_a_faiss_header_claiming_2_to_the_37_floats_is_refused_before_faiss_reads_it(tmp_path: Path) -> None:
    version = _saved(tmp_path)
    data = bytearray((version / "index.faiss").read_bytes())
    struct.pack_into("<Q", data, 37, 2**37)  # the vector's length, after the 37-byte flat header
    (version / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(IndexStoreError, match="corrupt FAISS index file .* declares 137,438,953,472"):
        VectorIndex.load(tmp_path / "idx")
    struct.pack_into("<q", data, 8, 2**40)  # ntotal
    (version / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(IndexStoreError, match="corrupt FAISS"):
        VectorIndex.load(tmp_path / "idx")


@pytest.mark.parametrize(("field", "value"), [("db", ["x"]), ("metadata", "x"), ("sql", None), ("id", 3)])
def test_a_document_field_of_the_wrong_type_is_refused(tmp_path: Path, field: str, value: object) -> None:
    version = _saved(tmp_path)
    lines = (version / "docs.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first[field] = value
    (version / "docs.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(IndexStoreError, match=f"line 1: field '{field}' must be"):
        VectorIndex.load(tmp_path / "idx")


def test_a_manifest_for_another_corpus_or_template_is_refused(tmp_path: Path) -> None:
    index = tiny_index(4, template="question", corpus="bundled")
    with pytest.raises(IndexStoreError, match="built for corpus 'bundled' with template 'question', not corpus 'default'"):
        check_request(index, tmp_path, "default", "question")
    check_request(index, tmp_path, "bundled", "question")


@dataclass
class _Encoder:
    name: str = "test"
    fingerprint: str = "f" * 16
    dimension: int = 16


def test_mismatch_messages_say_what_differs(tmp_path: Path) -> None:
    tiny_index(4).save(tmp_path / "idx")
    with pytest.raises(IndexStoreError, match="holds 8-d vectors, but embedder 'test' makes 16-d ones"):
        VectorIndex.load(tmp_path / "idx", _Encoder())
    with pytest.raises(IndexStoreError, match="built with embedder 'test' \\(ffffffffffffffff\\), not 'other'"):
        VectorIndex.load(tmp_path / "idx", _Encoder(name="other", fingerprint="0" * 16, dimension=8))
