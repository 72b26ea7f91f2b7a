"""eval.crossdb: leave-one-database-out retrieval with plain, masked and fused questions, on small
databases of this test's own (a bag-of-words encoder stands in for the embedder)."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import eval.crossdb
from eval.crossdb import CrossDbEvaluation, database_groups, load_cross_db, reciprocal_rank_fusion
from eval.relevance import sql_skeleton
from rag.corpus import Example
from rag.masking import Vocabulary

SCHEMAS = {
    "zoo": "CREATE TABLE animals (name TEXT, species TEXT, age INTEGER); INSERT INTO animals VALUES ('Rex', 'lion', 7), ('Bo', 'otter', 2);",
    "farm": "CREATE TABLE livestock (tag TEXT, breed TEXT, weight REAL); INSERT INTO livestock VALUES ('A1', 'Angus', 500.0), ('B2', 'Merino', 60.0);",
    "garage": "CREATE TABLE cars (model TEXT, colour TEXT, mileage INTEGER); INSERT INTO cars VALUES ('Civic', 'red', 12000), ('Golf', 'blue', 800);",
}
ROWS = [  # (db, question, sql)
    ("zoo", "How many animals are older than 4 years?", "SELECT COUNT(*) FROM animals WHERE age > 4"),
    ("zoo", "Which animals are lions?", "SELECT name FROM animals WHERE species = 'lion'"),
    ("farm", "Which animals that are older than 4 years are of breed Angus?", "SELECT tag FROM livestock WHERE breed = 'Angus'"),
    ("farm", "How many livestock weigh more than 100?", "SELECT COUNT(*) FROM livestock WHERE weight > 100"),
    ("garage", "How many cars have a mileage above 9000?", "SELECT COUNT(*) FROM cars WHERE mileage > 9000"),
    ("garage", "List the cars in red colour.", "SELECT model FROM cars WHERE colour = 'red'"),
]


class BagOfWords:
    """Hashed word counts (placeholders are words): a transparent stand-in for an embedder."""

    name = "bag-of-words"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts, *, batch_size=64, show_progress=False):
        self.seen.extend(texts)
        out = np.zeros((len(texts), 1024), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"<\w+>|\w+", text.lower()):
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 1024] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def examples(tmp_path: Path) -> list[Example]:
    paths = {}
    for name, script in SCHEMAS.items():
        path = tmp_path / f"{name}.sqlite"
        with sqlite3.connect(path) as connection:
            connection.executescript(script)
        connection.close()
        paths[name] = str(path)
    return [
        Example(id=f"{db}-{i}", question=q, sql=s, db_id=db, context="", db_path=paths[db], split="test")
        for i, (db, q, s) in enumerate(ROWS)
    ]


def test_doctests():
    result = doctest.testmod(eval.crossdb)
    assert result.attempted > 0 and result.failed == 0


def test_leave_one_database_out(examples):
    evaluation = CrossDbEvaluation.prepare(examples)
    assert evaluation.stats["databases"] == 3 and evaluation.stats["vocabulary_failures"] == 0
    encoder = BagOfWords()
    for ranking, query_group in zip(
        evaluation.rankings(encoder, [e.question for e in examples], [e.question for e in examples]), evaluation.query_groups
    ):
        assert ranking and all(evaluation.pool_groups[int(p)] != query_group for p in ranking)
        assert len(ranking) == 4  # the two examples of each other database
    # relevance: the same skeleton, in another database only
    assert evaluation.relevant[0] == {"3", "4"}
    assert evaluation.relevant[1] == {"2", "5"}
    assert all(
        sql_skeleton(examples[int(p)].sql) == sql_skeleton(examples[q].sql) for q, rel in enumerate(evaluation.relevant) for p in rel
    )


def test_masked_variant_compares_structure(examples):
    evaluation = CrossDbEvaluation.prepare(examples)
    assert evaluation.masked_queries[0] == "How many <table> are older than <number> years?"
    assert evaluation.masked_pool[2] == "Which animals that are older than <number> years are of <column> <value>?"
    encoder = BagOfWords()
    results = evaluation.evaluate(encoder)
    assert set(results) == {"documents", "plain", "masked", "fused", "stats"}
    assert results["masked"]["recall@3"] > results["plain"]["recall@3"]
    assert results["masked"]["mrr@10"] > results["plain"]["mrr@10"]
    assert results["plain"]["mrr@10"] <= results["fused"]["mrr@10"]
    assert results["plain"]["queries"] == 6
    assert "How many <table> have a <column> above <number>?" in encoder.seen  # the pool side is masked too


def test_fusion_ranks_by_reciprocal_rank():
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]]) == ["x", "y"]  # a tie keeps the first ranking's order
    assert reciprocal_rank_fusion([["a"], ["b", "c", "a"]], k=1) == ["a", "b", "c"]
    assert reciprocal_rank_fusion([[], []]) == []


def test_groups_join_schemas_that_share_tables():
    rows = [Example(id=str(i), question="q", sql="SELECT 1", db_id=f"gretel-{i}", context="") for i in range(4)]
    vocabularies = [
        Vocabulary(tables=("Orders",)),
        Vocabulary(tables=("customers", "orders")),
        Vocabulary(tables=("customers",)),
        Vocabulary(tables=("planets",)),
    ]
    assert database_groups(rows, vocabularies) == [0, 0, 0, 1]  # auto: no database files, so shared tables join
    assert database_groups(rows, vocabularies, "db") == [0, 1, 2, 3]


def test_context_rows_are_grouped_by_shared_tables():
    scripts = [
        "CREATE TABLE orders (id INT, total REAL); INSERT INTO orders VALUES (1, 9.5);",
        "CREATE TABLE orders (id INT, placed TEXT); INSERT INTO orders VALUES (1, '2024-01-02');",
        "CREATE TABLE planets (name TEXT, moons INT); INSERT INTO planets VALUES ('Mars', 2);",
    ]
    rows = [
        Example(id=str(i), question="How many rows?", sql="SELECT COUNT(*) FROM t", db_id=f"g-{i}", context=s)
        for i, s in enumerate(scripts)
    ]
    evaluation = CrossDbEvaluation.prepare(rows)
    assert evaluation.query_groups == [0, 0, 1]
    assert evaluation.relevant == [{"2"}, {"2"}, {"0", "1"}]


def test_spider_directory_with_only_dev_json(tmp_path):
    dev = [
        {"db_id": "pets", "question": "How many pets are older than 3?", "query": "SELECT count(*) FROM pets WHERE age > 3"},
        {
            "db_id": "ships",
            "question": "How many vessels have a tonnage above 5000?",
            "query": "SELECT count(*) FROM vessels WHERE tonnage > 5000",
        },
        {"db_id": "ships", "question": "List vessels named 'Aurora'", "query": "SELECT id FROM vessels WHERE name = 'Aurora'"},
    ]
    (tmp_path / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    tables = [
        {"db_id": "pets", "table_names_original": ["pets"], "column_names_original": [[-1, "*"], [0, "age"], [0, "pet_type"]]},
        {"db_id": "ships", "table_names_original": ["vessels"], "column_names_original": [[-1, "*"], [0, "tonnage"], [0, "name"]]},
    ]
    (tmp_path / "tables.json").write_text(json.dumps(tables), encoding="utf-8")
    queries, pool, names = load_cross_db(f"spider:{tmp_path}", "test")
    assert len(queries) == len(pool) == 3 and set(names) == {"pets", "ships"}
    evaluation = CrossDbEvaluation.prepare(queries, pool, vocabularies=names)
    assert evaluation.masked_queries[:2] == [
        "How many <table> are older than <number>?",
        "How many <table> have a <column> above <number>?",
    ]
    assert evaluation.masked_queries[2] == "List <table> named <value>"
    assert evaluation.relevant == [{"1"}, {"0"}, set()]
    results = evaluation.evaluate(BagOfWords())
    assert results["masked"]["queries"] == 2 and results["masked"]["queries_without_relevant"] == 1
