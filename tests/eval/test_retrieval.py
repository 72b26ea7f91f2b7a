"""Relevance judgements (execution-equivalence, skeletons, the cache) and the retrieval metrics API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.relevance import judge_relevance, referenced_names, sql_skeleton
from eval.retrieval import PRIMARY_METRIC, evaluate_retrieval
from eval.scoring import Scorer
from rag.corpus import Example

SHOP = "CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'x');"
PEOPLE = "CREATE TABLE people (name TEXT, city TEXT); INSERT INTO people VALUES ('Ann', 'Paris');"


def example(id: str, sql: str, context: str, split: str = "train") -> Example:
    return Example(id=id, question=f"question {id}", sql=sql, db_id=f"db-{id}", context=context, split=split)


TEST = [example("q1", "SELECT a FROM t WHERE b = 'x'", SHOP, "test")]
TRAIN = [
    example("same-result", "SELECT a FROM t WHERE a IN (1, 3)", SHOP),  # execution-equivalent, other skeleton
    example("same-shape", "SELECT name FROM people WHERE city = 'Paris'", PEOPLE),  # same skeleton, other schema
    example("errors", "SELECT nosuchfunction(a) FROM t", SHOP),  # fails on the test database: not equivalent
    example("missing-column", "SELECT a FROM t WHERE c > 1", SHOP),  # names a column the test db lacks
    example("other", "SELECT b FROM t", SHOP),
]


def test_skeleton_masks_names_and_values_but_keeps_keywords():
    assert sql_skeleton("SELECT a FROM t WHERE b = 'x'") == sql_skeleton("select name from people p where p.city = 'Paris';")
    assert sql_skeleton("SELECT a FROM t WHERE b = 'x'") != sql_skeleton("SELECT a FROM t WHERE b > 'x'")
    assert sql_skeleton("SELECT COUNT(a) FROM t") != sql_skeleton("SELECT SUM(a) FROM t")
    assert sql_skeleton("SELECT a FROM t WHERE") == "SELECT _ FROM _ WHERE"  # does not parse: token fallback


def test_referenced_names_leave_out_ctes_and_aliases():
    tables, columns = referenced_names("WITH c AS (SELECT a AS x FROM t) SELECT x, COUNT(*) AS n FROM c JOIN u ON u.id = c.x ORDER BY n")
    assert tables == ["t", "u"] and columns == ["a", "id"]


def test_relevance_by_execution_and_by_skeleton(tmp_path: Path):
    cache = tmp_path / "relevance.json"
    with Scorer() as scorer:
        relevance = judge_relevance(TEST, TRAIN, scorer=scorer, cache_path=cache)
    assert relevance.by_execution["q1"] == {"same-result"}
    assert relevance.by_skeleton["q1"] == {"same-shape"}
    assert relevance.relevant("q1") == {"same-result", "same-shape"}
    stored = json.loads(cache.read_text())
    assert stored["test"]["q1"]["execution"] == ["same-result"]

    with Scorer() as fresh:  # the cache answers: no database is built again
        again = judge_relevance(TEST, TRAIN, scorer=fresh, cache_path=cache)
        assert fresh.databases.builds == 0
    assert again.relevant("q1") == relevance.relevant("q1")

    changed = [example("q1", "SELECT b FROM t WHERE a = 2", SHOP, "test")]
    with Scorer() as scorer:
        assert judge_relevance(changed, TRAIN, scorer=scorer, cache_path=cache).by_execution["q1"] == set()


def test_empty_gold_result_makes_nothing_equivalent():
    empty = [example("q2", "SELECT a FROM t WHERE a > 10", SHOP, "test")]
    with Scorer() as scorer:
        assert judge_relevance(empty, [example("none", "SELECT a FROM t WHERE a < 0", SHOP)], scorer=scorer).by_execution["q2"] == set()


def test_evaluate_retrieval_returns_named_metrics(encoder, settings):
    metrics = evaluate_retrieval(encoder, "bundled", template="question", settings=settings)
    assert metrics["primary_metric"] == PRIMARY_METRIC == "mrr@10"
    assert metrics["template"] == "question" and metrics["embedder"] == encoder.name
    for name in ("recall@1", "recall@3", "recall@10", "accuracy@1", "accuracy@3", "mrr@10"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["recall@1"] <= metrics["recall@3"] <= metrics["recall@10"]
    assert metrics["accuracy@1"] <= metrics["accuracy@3"]
    assert metrics["queries"] + metrics["queries_without_relevant"] == 75
    cached = list((settings.home / "eval" / "relevance").glob("bundled--*.json"))
    assert len(cached) == 1


def test_sentence_transformers_evaluator_matches_the_function(encoder, settings):
    from eval.st_evaluator import RetrievalEvaluator

    evaluator = RetrievalEvaluator("bundled", template="question", settings=settings, limit=30)
    metrics = evaluator(encoder.model)
    assert evaluator.primary_metric == "coderag_mrr@10" and evaluator.primary_metric in metrics
    direct = evaluate_retrieval(encoder, "bundled", template="question", settings=settings, limit=30)
    assert metrics["coderag_mrr@10"] == pytest.approx(direct["mrr@10"], abs=1e-6)
    assert metrics["coderag_recall@3"] == pytest.approx(direct["recall@3"], abs=1e-6)
