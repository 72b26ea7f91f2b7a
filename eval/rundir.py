"""An evaluation run's directory: what a run evaluates (RunSpec), and predictions.jsonl read back.

A run appends each finished example to predictions.jsonl at once; `--resume` reads the file back and
checks that the resumed run evaluates what the interrupted one did (run.json).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, DataError
from rag.models import DEFAULT_MODEL

PREDICTIONS, METRICS, REPORT, PLOT, RUN = "predictions.jsonl", "metrics.json", "report.md", "ex_by_complexity.png", "run.json"


@dataclass(frozen=True)
class RunSpec:
    """What a run evaluates; a resumed run must match the interrupted one (except `limit`)."""

    corpus: str = "bundled"
    split: str = "test"
    limit: int | None = None
    generator: str = "knn"
    llm_model_path: str | None = None
    openai_base_url: str | None = None
    k: int = 3
    baseline: bool = True
    embedder: str = DEFAULT_MODEL
    template: str = "question_sql_context"
    store: str = "corpus"  # corpus: retrieve from the corpus's train split; synth: from each database's synthesized store
    store_examples: int = 300  # synth: examples synthesized per database (bounded: `db add` makes 2,000 for one)

    def resume_command(self, out: Path) -> str:
        parts = ["coderag", "eval", "run", "--corpus", self.corpus, "--split", self.split, "--generator", self.generator]
        if self.limit:
            parts += ["--limit", str(self.limit)]
        if self.llm_model_path:
            parts += ["--llm-model-path", self.llm_model_path]
        if self.openai_base_url:
            parts += ["--openai-base-url", self.openai_base_url]
        parts += [
            "--k",
            str(self.k),
            "--embedder",
            self.embedder,
            "--template",
            self.template,
            "--store",
            self.store,
            "--store-examples",
            str(self.store_examples),
        ]
        if not self.baseline:
            parts.append("--no-baseline")
        parts += ["--out", str(out), "--resume"]
        return shlex.join(parts)


# --- the predictions file ---------------------------------------------------------------------


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Records of predictions.jsonl; a truncated last line (a crash mid-write) is dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError("not a prediction record")
        except ValueError:
            if number == len(lines):
                break
            raise DataError(
                f"{path}:{number}: malformed prediction record", hint="delete the line or start again with --overwrite"
            ) from None
        records.append(record)
    return records


def prepare_out_dir(out: Path, spec: RunSpec, *, resume: bool, overwrite: bool) -> list[dict[str, Any]]:
    """Check --out against --resume/--overwrite before anything is written; the records already done."""
    predictions = out / PREDICTIONS
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other")
    if resume:
        if not predictions.is_file():
            raise ConfigError(f"nothing to resume: {predictions} does not exist")
        try:
            earlier = json.loads((out / RUN).read_text(encoding="utf-8"))["spec"]
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise DataError(f"cannot resume: {out / RUN} is missing or corrupt") from None
        mine = asdict(spec)
        different = [key for key in mine if key != "limit" and earlier.get(key) != mine[key]]
        if different:
            key = different[0]
            raise ConfigError(f"cannot resume: this run has {key}={mine[key]!r}, the one in {out} has {key}={earlier.get(key)!r}")
        return read_predictions(predictions)
    if predictions.exists() and not overwrite:
        raise ConfigError(
            f"{out} already holds an evaluation run", hint="pass --resume to continue it, --overwrite to start again, or another --out"
        )
    return []
