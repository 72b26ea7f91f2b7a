"""Public (text, code) pair data for from-scratch training, through `datasets`.

    coderag embedder pairs mbpp --out data/mbpp.jsonl
    coderag embedder pairs codexglue --language python --limit 100000 --out data/csn-python.jsonl
    coderag embedder pairs leetcode --from-file leetcode.jsonl --out data/leetcode.jsonl   # offline copy

Every source becomes JSONL rows `{"anchor", "positive", "source", "split"}` (anchor: the
natural-language side, positive: the code), which `embedder train` and `embedder tokenizer`
read directly. `--from-file` reads a local parquet/JSONL/CSV with the hub dataset's columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, DataError


def _first_doc(row: dict[str, Any]) -> str:
    docs = row.get("docs") or []
    first = docs[0] if docs else {}
    return str(first.get("text", "")) if isinstance(first, dict) else str(first)


@dataclass(frozen=True)
class PairSource:
    """How one hub dataset maps to (anchor, positive) pairs."""

    hub_id: str
    config: str | None
    splits: tuple[str, ...]
    columns: tuple[str, ...]
    anchor: Callable[[dict[str, Any]], str]
    positive: Callable[[dict[str, Any]], str]
    description: str


SOURCES: dict[str, PairSource] = {
    "codexglue": PairSource(
        hub_id="google/code_x_glue_ct_code_to_text",
        config="python",  # go, java, javascript, php, python, ruby (--language)
        splits=("train", "validation", "test"),
        columns=("docstring", "code"),
        anchor=lambda r: r["docstring"],
        positive=lambda r: r["code"],
        description="CodeXGLUE code-to-text (CodeSearchNet): docstring → function",
    ),
    "mbpp": PairSource(
        hub_id="google-research-datasets/mbpp",
        config="full",
        splits=("train", "validation", "test", "prompt"),
        columns=("text", "code"),
        anchor=lambda r: r["text"],
        positive=lambda r: r["code"],
        description="MBPP: task description → Python solution",
    ),
    "humaneval": PairSource(
        hub_id="openai/openai_humaneval",
        config=None,
        splits=("test",),
        columns=("prompt", "canonical_solution"),
        anchor=lambda r: r["prompt"],
        positive=lambda r: r["canonical_solution"],
        description="HumanEval: signature + docstring → canonical solution body",
    ),
    "leetcode": PairSource(
        hub_id="greengerong/leetcode",
        config=None,
        splits=("train",),
        columns=("content", "python"),
        anchor=lambda r: r["content"],
        positive=lambda r: r["python"],
        description="LeetCode: problem statement → Python solution with explanation",
    ),
    "code-rag-bench": PairSource(
        hub_id="code-rag-bench/mbpp",  # also code-rag-bench/humaneval, /ds1000, /odex (--subset)
        config=None,
        splits=("train",),
        columns=("docs",),
        anchor=lambda r: r.get("text") or r.get("prompt") or r.get("intent") or "",
        positive=_first_doc,
        description="CodeRAG-Bench: problem → its gold document (first of `docs`)",
    ),
}


def iter_pairs(
    name: str,
    *,
    from_file: Path | None = None,
    splits: list[str] | None = None,
    language: str | None = None,
    subset: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, str]]:
    """Pairs of one source, from the hub or from a local file with the hub dataset's columns."""
    source = SOURCES.get(name)
    if source is None:
        raise ConfigError(f"unknown pair source '{name}' (choose from {', '.join(SOURCES)})")
    hub_id = f"code-rag-bench/{subset}" if name == "code-rag-bench" and subset else source.hub_id
    config = (language or source.config) if name == "codexglue" else source.config
    count = 0
    for split, data in _load(hub_id, config, splits or list(source.splits), from_file):
        missing = [c for c in source.columns if c not in data.column_names]
        if missing:
            where = from_file or hub_id
            raise DataError(f"{where} lacks column(s) {', '.join(missing)} expected for {name} (has {', '.join(data.column_names)})")
        for row in data:
            anchor, positive = str(source.anchor(row) or "").strip(), str(source.positive(row) or "").strip()
            if not anchor or not positive:
                continue
            yield {"anchor": anchor, "positive": positive, "source": name, "split": split}
            count += 1
            if limit and count >= limit:
                return


def _load(hub_id: str, config: str | None, splits: list[str], from_file: Path | None) -> Iterator[tuple[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    if from_file is not None:
        if not from_file.is_file():
            raise DataError(f"pair source file not found: {from_file}")
        builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}.get(from_file.suffix.lower())
        if builder is None:
            raise DataError(f"unsupported file type '{from_file.suffix}' (use .parquet, .jsonl, .json or .csv)")
        try:
            yield "train", datasets.load_dataset(builder, data_files=str(from_file), split="train")
        except Exception as exc:  # datasets raises its own hierarchy for format problems
            raise DataError(f"could not read {from_file}: {str(exc).splitlines()[0]}") from None
        return
    for split in splits:
        try:
            data = datasets.load_dataset(hub_id, config, split=split)
        except ValueError as exc:
            if "Unknown split" in str(exc):
                raise ConfigError(f"{hub_id} has no split '{split}'") from None
            raise DataError(f"could not load {hub_id}: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # offline, missing dataset, hub errors
            raise DataError(
                f"could not load {hub_id} from the Hugging Face hub ({type(exc).__name__})",
                hint="offline? download it elsewhere and pass --from-file FILE",
            ) from None
        yield split, data


def write_pairs(pairs: Iterator[dict[str, str]], out: Path, *, overwrite: bool = False) -> int:
    """Write pairs as JSONL, atomically; returns the row count (an empty result is an error)."""
    from rag.io import atomic_path

    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists", hint="pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_path(out) as tmp:
        with tmp.open("w", encoding="utf-8") as handle:
            for pair in pairs:
                handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
                count += 1
        if count == 0:
            raise DataError("no pairs with a non-empty anchor and positive were found; nothing written")
    return count
