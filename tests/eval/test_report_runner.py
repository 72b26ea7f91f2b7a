"""Metrics, the bootstrap interval, the predictions file, and a run with excluded examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.report import paired_bootstrap_ci, render_report, summarize
from eval.rundir import METRICS, PREDICTIONS, REPORT, RunSpec, read_predictions
from eval.runner import run_evaluation
from rag.errors import DataError
from rag.generators import KnnGenerator


def arm(ex: bool, category: str | None = None) -> dict:
    return {"ex": ex, "em": ex, "em_ast": ex, "error_category": None if ex else category or "wrong_result", "latency_ms": 10.0}


def test_bootstrap_interval():
    assert paired_bootstrap_ci([1, 0, 1, 0], [1, 0, 1, 0]) == (0.0, 0.0)
    low, high = paired_bootstrap_ci([1] * 60 + [0] * 40, [1] * 40 + [0] * 60)
    assert 0.0 < low < 0.2 < high < 0.4
    low, high = paired_bootstrap_ci([1, 0] * 10, [0, 1] * 10)
    assert low < 0 < high
    assert paired_bootstrap_ci([1, 0, 1], [0, 0, 1], seed=1) == paired_bootstrap_ci([1, 0, 1], [0, 0, 1], seed=1)


def test_summarize_counts_arms_complexities_errors_and_exclusions():
    records = [
        {"id": "1", "sql_complexity": "basic SQL", "excluded": None, "rag": arm(True), "no_rag": arm(False, "no_sql")},
        {"id": "2", "sql_complexity": "basic SQL", "excluded": None, "rag": arm(True), "no_rag": arm(True)},
        {"id": "3", "sql_complexity": "CTEs", "excluded": None, "rag": arm(False, "timeout"), "no_rag": arm(False, "parse_error")},
        {"id": "4", "sql_complexity": "CTEs", "excluded": "gold query fails (execution_error): no such table"},
    ]
    metrics = summarize(records, baseline=True)
    assert metrics["rag"]["n"] == 3 and metrics["rag"]["ex"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["no_rag"]["ex"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["rag"]["errors"]["timeout"] == 1 and metrics["no_rag"]["errors"]["no_sql"] == 1
    assert metrics["rag"]["by_complexity"]["basic SQL"] == {"n": 2, "ex": 1.0, "em": 1.0, "em_ast": 1.0}
    assert metrics["delta"]["ex"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["delta"]["rag_only_correct"] == 1 and metrics["delta"]["no_rag_only_correct"] == 0
    assert metrics["excluded"] == {"n": 1, "reasons": {"gold query fails (execution_error)": 1}, "ids": ["4"]}
    report = render_report({**metrics, "config": {"k": 3}}, None)
    assert "| RAG (k=3) | 3 | 66.7 |" in report and "1 examples whose gold query cannot run" in report
    no_baseline = summarize(records, baseline=False)
    assert "no_rag" not in no_baseline and "delta" not in no_baseline


def test_read_predictions_drops_only_a_truncated_last_line(tmp_path: Path):
    path = tmp_path / PREDICTIONS
    path.write_text('{"id": "1"}\n{"id": "2"}\n{"id": "3", "rag": {"sq', encoding="utf-8")
    assert [r["id"] for r in read_predictions(path)] == ["1", "2"]
    path.write_text('{"id": "1"}\n{"id": \n{"id": "3"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=":2: malformed"):
        read_predictions(path)


def test_run_excludes_examples_whose_gold_fails(tmp_path: Path, settings, encoder):
    context = "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');"
    rows = [
        {"id": "tr1", "question": "Which a have b x?", "sql": "SELECT a FROM t WHERE b = 'x'", "context": context, "split": "train"},
        {"id": "tr2", "question": "How many rows?", "sql": "SELECT COUNT(*) FROM t", "context": context, "split": "train"},
        {"id": "te1", "question": "Which a has b equal to x?", "sql": "SELECT a FROM t WHERE b = 'x'", "context": context, "split": "test"},
        {"id": "te2", "question": "Count the rows", "sql": "SELECT COUNT(*) FROM nowhere", "context": context, "split": "test"},
        {"id": "te3", "question": "Rows?", "sql": "SELECT 1", "context": "CREATE TABLE broken (", "split": "test"},
    ]
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    class Counting(KnnGenerator):
        calls = 0

        def generate(self, prompt, hits, db, dialect="sqlite"):
            Counting.calls += 1
            return super().generate(prompt, hits, db)

    spec = RunSpec(corpus=f"jsonl:{corpus}", k=1)
    out = tmp_path / "run"
    metrics = run_evaluation(spec, settings, out, encoder=encoder, generator=Counting(), show_progress=False)
    assert Counting.calls == 2  # only te1 is generated, in both arms
    assert metrics["config"]["n_train_indexed"] == 2  # the test rows of the same file are not indexed
    assert metrics["excluded"]["n"] == 2 and set(metrics["excluded"]["ids"]) == {"te2", "te3"}
    assert set(metrics["excluded"]["reasons"]) == {"gold query fails (execution_error)", "database does not load"}
    assert metrics["rag"]["n"] == 1 and metrics["rag"]["ex"] == 1.0  # knn returns tr1's identical SQL
    # te2's gold cannot run, but its skeleton still matches tr2's; te3 matches nothing
    assert metrics["retrieval"]["queries"] == 2.0 and metrics["retrieval"]["queries_without_relevant"] == 1.0
    assert "2 examples whose gold query cannot run" in (out / REPORT).read_text()
    assert json.loads((out / METRICS).read_text())["excluded"]["n"] == 2
    # what te1 was linked to, scored against its gold SQL (eval.linking), in metrics.json and the report
    linking = metrics["linking"]
    assert linking["n"] >= 1 and linking["table_recall"] == 1.0 and linking["column_recall"] == 1.0
    assert "## Linking" in (out / REPORT).read_text()
