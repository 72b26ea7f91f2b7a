"""`coderag eval score`: any system's predictions in Spider's file format.

    gold.sql   one `SQL<TAB>db_id` per line
    pred.sql   one SQL per line, in the same order (a blank line is "no SQL")
    DIR/<db_id>/<db_id>.sqlite

Every line is checked (encoding, layout, line counts, databases) before anything is scored, so
bad input fails with one message and no partial output. Scoring is `eval.scoring.Scorer`, the
same as `coderag eval run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.report import arm_metrics
from eval.scoring import Scorer
from rag.errors import DatabaseError, DataError
from rag.execution import DatabaseSource


@dataclass(frozen=True)
class GoldLine:
    number: int
    sql: str
    db_id: str


def _raw_lines(path: Path, what: str = "prediction") -> list[str]:
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{what} file {path} is not UTF-8 text") from None


def _lines(path: Path, what: str) -> list[str]:
    lines = _raw_lines(path, what)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_gold_file(path: Path) -> list[GoldLine]:
    gold = []
    for number, line in enumerate(_lines(path, "gold"), 1):
        sql, tab, db_id = line.rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip():
            raise DataError(f"{path}:{number}: expected 'SQL<TAB>db_id'")
        gold.append(GoldLine(number, sql.strip(), db_id.strip()))
    if not gold:
        raise DataError(f"gold file {path} is empty")
    return gold


def read_prediction_file(path: Path) -> list[str]:
    return [line.strip() for line in _lines(path, "prediction")]


def database_path(db_dir: Path, db_id: str) -> Path:
    return db_dir / db_id / f"{db_id}.sqlite"


def check_databases(gold: list[GoldLine], db_dir: Path, gold_path: Path) -> None:
    if not db_dir.is_dir():
        raise DatabaseError(f"database directory not found: {db_dir}")
    for line in gold:
        if not (db_dir / line.db_id).is_dir():
            raise DatabaseError(f"{gold_path}:{line.number}: unknown db_id '{line.db_id}' (no directory {db_dir / line.db_id})")
        if not database_path(db_dir, line.db_id).is_file():
            raise DatabaseError(f"{gold_path}:{line.number}: database file missing: {database_path(db_dir, line.db_id)}")


def score_files(gold_path: Path, pred_path: Path, db_dir: Path, *, timeout_s: float = 5.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics, per-line results) for a gold file, a prediction file and a database directory."""
    gold = read_gold_file(gold_path)
    predictions = read_prediction_file(pred_path)
    if len(predictions) < len(gold) and len(_raw_lines(pred_path)) == len(gold):
        predictions += [""] * (len(gold) - len(predictions))  # trailing empty lines: no SQL for the last questions
    if len(predictions) != len(gold):
        raise DataError(f"{pred_path} has {len(predictions)} predictions but {gold_path} has {len(gold)} gold queries")
    check_databases(gold, db_dir, gold_path)
    results = []
    with Scorer(timeout_s=timeout_s) as scorer:
        for line, prediction in zip(gold, predictions):
            prepared = scorer.gold(line.sql, DatabaseSource(path=str(database_path(db_dir, line.db_id))))
            result: dict[str, Any] = {"line": line.number, "db_id": line.db_id, "gold_sql": line.sql, "excluded": prepared.excluded}
            if not prepared.excluded:
                score = scorer.score(prediction, prepared)
                result["pred"] = {
                    "sql": score.sql,
                    "ex": score.ex,
                    "em": score.em,
                    "em_ast": score.em_ast,
                    "error_category": score.category,
                    "error": score.error,
                    "latency_ms": None,
                }
            results.append(result)
    scored = [r for r in results if not r["excluded"]]
    metrics = arm_metrics(scored, "pred")
    metrics.pop("by_complexity")
    metrics.pop("latency_ms")
    metrics["excluded"] = len(results) - len(scored)
    return metrics, results
