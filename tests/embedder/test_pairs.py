"""Public pair loaders: each source's real column mapping, run offline on small local files of the same columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedder_testing import one_error_line

from embedder.pairs import SOURCES, iter_pairs, write_pairs
from rag.errors import ConfigError, DataError

ROWS = {
    "codexglue": {
        "id": 0,
        "repo": "r",
        "path": "p.py",
        "func_name": "add",
        "language": "python",
        "code": "def add(a, b):\n    return a + b",
        "docstring": "Add two numbers.",
    },
    "mbpp": {
        "task_id": 2,
        "text": "Write a function to add two numbers.",
        "code": "def add(a, b):\n    return a + b",
        "test_list": ["assert add(1, 2) == 3"],
    },
    "humaneval": {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
        "canonical_solution": "    return a + b\n",
        "test": "",
        "entry_point": "add",
    },
    "leetcode": {
        "id": 1,
        "slug": "two-sum",
        "title": "Two Sum",
        "difficulty": "Easy",
        "content": "Given an array of integers...",
        "python": "```python\ndef two_sum(nums, target): ...\n```",
        "java": "",
        "c++": "",
        "javascript": "",
    },
    "code-rag-bench": {
        "task_id": 2,
        "text": "Write a function to add two numbers.",
        "code": "def add(a, b): return a + b",
        "docs": [{"title": "add", "text": "# add\ndef add(a, b): return a + b"}],
    },
}


def _local_file(tmp_path: Path, source: str, extra: list[dict] | None = None) -> Path:
    path = tmp_path / f"{source}.jsonl"
    rows = [ROWS[source], {**ROWS[source], **{c: "" for c in SOURCES[source].columns[:1]}}] + (extra or [])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("source", sorted(ROWS))
def test_each_source_maps_its_columns(tmp_path: Path, source: str) -> None:
    pairs = list(iter_pairs(source, from_file=_local_file(tmp_path, source)))
    assert len(pairs) == 1  # the row with an empty field is skipped
    pair = pairs[0]
    assert set(pair) == {"anchor", "positive", "source", "split"} and pair["source"] == source
    assert pair["anchor"] and pair["positive"] and pair["anchor"] != pair["positive"]


def test_cli_writes_jsonl_that_training_reads(coderag, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    code, stdout, stderr = coderag("embedder", "pairs", "mbpp", "--from-file", str(_local_file(tmp_path, "mbpp")), "--out", str(out))
    assert code == 0, stderr
    assert "wrote 1 pairs" in stdout
    from synth.triplets import load_triplets

    assert json.loads(out.read_text().splitlines()[0])["anchor"].startswith("Write a function")
    with pytest.raises(DataError, match="1 usable row"):  # one pair is too few to train on, but it reads
        load_triplets(out)
    code, _, stderr = coderag("embedder", "pairs", "mbpp", "--from-file", str(_local_file(tmp_path, "mbpp")), "--out", str(out))
    assert code == 2 and "already exists" in one_error_line(stderr)


def test_limit(tmp_path: Path) -> None:
    extra = [{**ROWS["mbpp"], "text": f"task {i}"} for i in range(5)]
    assert len(list(iter_pairs("mbpp", from_file=_local_file(tmp_path, "mbpp", extra), limit=3))) == 3


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(DataError, match="lacks column"):
        list(iter_pairs("humaneval", from_file=path))


def test_offline_hub_is_one_clear_line(coderag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "p.jsonl"
    code, _, stderr = coderag("embedder", "pairs", "humaneval", "--out", str(out))
    line = one_error_line(stderr)
    assert code == 3 and "openai/openai_humaneval" in line and "--from-file" in line
    assert not out.exists()


def test_unknown_source_and_empty_result(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown pair source"):
        list(iter_pairs("nope"))
    with pytest.raises(DataError, match="nothing written"):
        write_pairs(iter([]), tmp_path / "e.jsonl")
    assert not (tmp_path / "e.jsonl").exists()
