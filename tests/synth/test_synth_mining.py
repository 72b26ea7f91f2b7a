"""Hard-negative mining: never the positive, never an execution-equivalent query, sampled as configured."""

from __future__ import annotations

import pytest
from synth_fixtures import SHOP

from rag.errors import ConfigError
from synth.curate import EmbeddingCache
from synth.mining import (
    ExecutionEquivalence,
    HardNegativeMiner,
    MiningConfig,
    mine_hard_negatives,
)
from synth.pipeline import add_mined_negatives
from synth.sql.context import ExampleDatabase, database_cache
from synth.stats import SynthStats
from synth.triplets import Triplet

POSITIVE = "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50"
EQUIVALENT = "SELECT p.name, p.price FROM products AS p WHERE p.price > 50 AND p.category = 'furniture'"
POOL = [
    POSITIVE,
    POSITIVE + ";",  # a copy of the positive
    EQUIVALENT,
    "SELECT name, price FROM products WHERE category = 'furniture' AND price < 50",
    "SELECT name, price FROM products WHERE category = 'lighting' AND price > 50",
    "SELECT name FROM products WHERE category = 'furniture'",
    "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category",
    "SELECT channel, COUNT(*) FROM orders GROUP BY channel",
    "SELECT SUM(quantity) FROM orders",
]
QUERY = "Which furniture products have a price above 50? Show name and price."


def row(query: str, pos: str, task: str = "text2sql") -> Triplet:
    return Triplet(
        query=query, pos=pos, category="text2code", task_type=task, source="t", work={"sqlite": pos, "context": SHOP, "db_path": None}
    )


def test_config_is_validated():
    for bad in ({"top_k": 0}, {"strategy": "best"}, {"temperature": 0}, {"rank_range": (5, 5)}, {"num_negatives": -1}):
        with pytest.raises(ConfigError):
            MiningConfig(**bad)
    with pytest.raises(ConfigError):
        HardNegativeMiner(None, [], MiningConfig())


@pytest.mark.parametrize("strategy", ["softmax", "rank"])
def test_never_the_positive_or_a_copy(toy_encoder, strategy):
    miner = HardNegativeMiner(toy_encoder, POOL, MiningConfig(strategy=strategy, num_negatives=8, margin=0.0))
    [mined] = miner.mine([QUERY], [POSITIVE])
    texts = [m.text for m in mined]
    assert POSITIVE not in texts and POSITIVE + ";" not in texts
    assert len(texts) == len(set(texts)) >= len(POOL) - 3  # "price < 50" has the same words: it may tie the positive
    assert miner.report["excluded: the positive or a copy"] == 2


def test_margin_drops_candidates_scored_close_to_the_positive(toy_encoder):
    miner = HardNegativeMiner(toy_encoder, POOL, MiningConfig(num_negatives=8, margin=0.2))
    [mined] = miner.mine([QUERY], [POSITIVE])
    vectors = toy_encoder.encode([QUERY, POSITIVE])
    positive_score = float(vectors[0] @ vectors[1])
    assert mined and all(m.score <= positive_score - 0.2 for m in mined)
    assert miner.report["excluded: within the margin of the positive"] >= 1


def test_false_negative_check_and_rank_range(toy_encoder):
    config = MiningConfig(strategy="rank", rank_range=(1, 4), num_negatives=3, margin=0.0)
    miner = HardNegativeMiner(toy_encoder, POOL, config)
    [mined] = miner.mine([QUERY], [POSITIVE], is_false_negative=lambda i, j: POOL[j] == EQUIVALENT)
    assert all(1 <= m.rank < 4 for m in mined)
    assert EQUIVALENT not in [m.text for m in mined]


def test_sampling_is_seeded(toy_encoder):
    def run(seed: int) -> list[str]:
        miner = HardNegativeMiner(toy_encoder, POOL, MiningConfig(num_negatives=2, temperature=1.0, seed=seed, margin=0.0))
        return [m.text for m in miner.mine([QUERY], [POSITIVE])[0]]

    assert run(0) == run(0)
    assert any(run(seed) != run(0) for seed in range(1, 10))


def test_mine_hard_negatives_one_call(toy_encoder):
    mined = mine_hard_negatives(
        toy_encoder, [QUERY, "average price per category"], [POSITIVE, POOL[6]], POOL, config=MiningConfig(num_negatives=2, margin=0.0)
    )
    assert [len(m) for m in mined] == [2, 2]
    assert POOL[6] not in [m.text for m in mined[1]]


def test_execution_equivalence_runs_on_the_anchor_database():
    documents = [EQUIVALENT, POOL[3], "SELECT name FROM no_such_table", None, POSITIVE + " ;"]
    with ExecutionEquivalence([POSITIVE, None], documents, [SHOP, SHOP]) as same_rows:
        assert [same_rows(0, j) for j in range(len(documents))] == [True, False, False, False, True]
        assert same_rows(1, 0) is False  # a pair that stands for no SQL has no SQL false negatives
    with ExecutionEquivalence([POSITIVE], [EQUIVALENT], ["no database"]) as same_rows:
        assert same_rows(0, 0) is False


def test_pipeline_mining_never_returns_an_equivalent_query(encoder):
    """With the real embedder the equivalent rewrite is a top neighbour; it must still never be mined."""
    rows = [row(QUERY, POSITIVE)]
    pool = [row(f"q{i}", text) for i, text in enumerate(POOL)]
    stats = SynthStats()
    add_mined_negatives(
        rows, {"text2sql": pool}, EmbeddingCache(encoder, show_progress=False), MiningConfig(num_negatives=7, margin=0.0), stats
    )
    negatives = rows[0].negatives
    assert negatives and rows[0].meta["neg_origin"] == "mined"
    assert POSITIVE not in negatives and POSITIVE + ";" not in negatives and EQUIVALENT not in negatives
    assert stats.notes["mining: excluded: equivalent to the positive"] >= 1
    with database_cache() as cache:
        shop = ExampleDatabase.of(cache, SHOP, None)
        assert not any(shop.same_result(POSITIVE, n) for n in negatives)


def test_rule_negatives_come_first():
    first = row(QUERY, POSITIVE)
    first.set_negatives([POOL[3]], "rule")
    pool = [row(f"q{i}", text) for i, text in enumerate(POOL)]
    from synth_fixtures import ToyEncoder

    add_mined_negatives(
        [first],
        {"text2sql": pool},
        EmbeddingCache(ToyEncoder(), show_progress=False),
        MiningConfig(num_negatives=3, margin=0.0),
        SynthStats(),
    )
    assert first.negatives[0] == POOL[3] and len(first.negatives) == 3
    assert first.meta["neg_origin"] == "rule" and first.meta["mined"] == 2
