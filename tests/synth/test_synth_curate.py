"""Curation: deduplication, CoRNStack consistency filtering, diverse selection per category."""

from __future__ import annotations

from synth.curate import (
    ConsistencyConfig,
    EmbeddingCache,
    consistency_filter,
    deduplicate,
    pools_by_task,
    select_per_category,
    shortlist,
)
from synth.stats import SynthStats
from synth.triplets import Triplet


def t(query: str, pos: str, category: str = "text2code", task: str = "text2sql", source: str = "s", **meta) -> Triplet:
    triplet = Triplet(query=query, pos=pos, category=category, task_type=task, source=source, meta=dict(meta))
    triplet.set_negatives(["a negative"], "rule")
    return triplet


def test_deduplicate_counts_per_category():
    rows = [
        t("How many?", "SELECT 1"),
        t("how   many?", "select 1;"),
        t("How many?", "SELECT 2"),
        t("Same", "same"),
        t("How many?", "SELECT 1", category="code2text", task="sql_explanation"),
    ]
    stats = SynthStats()
    kept = deduplicate(rows, stats)
    assert [(r.query, r.pos) for r in kept] == [("How many?", "SELECT 1")]
    assert stats.stages["duplicates"]["text2code"] == 3 and stats.stages["duplicates"]["code2text"] == 1


def test_pools_keep_lexical_neighbours_of_the_focus_rows():
    rows = [t(f"q{i}", f"SELECT col_{i} FROM table_{i}", source=str(i)) for i in range(50)]
    rows.append(t("dupe", "SELECT col_1 FROM table_1", source="x"))
    assert len(pools_by_task(rows, 0, 0)["text2sql"]) == 50  # one per distinct positive
    focus = [t("col_7 from table_7", "SELECT col_7 FROM table_7", source="7")]
    pool = pools_by_task(rows, 10, 0, focus=focus, neighbours=3)["text2sql"]
    assert len(pool) == 10
    assert "SELECT col_7 FROM table_7" in [p.pos for p in pool]
    assert pools_by_task(rows, 10, 0, focus=focus, neighbours=3) == pools_by_task(rows, 10, 0, focus=focus, neighbours=3)


def test_consistency_filter_keeps_pairs_whose_positive_ranks_high(toy_encoder):
    rows = [
        t("furniture price above fifty", "SELECT name FROM products WHERE category = 'furniture' AND price > 50", source="1"),
        t("orders per channel", "SELECT name FROM products WHERE category = 'furniture' AND price < 50", source="2"),  # mismatched
        t("total stock", "SELECT SUM(stock) FROM products", source="3"),
    ]
    others = [t(f"x{i}", f"SELECT channel, COUNT(*) FROM orders WHERE channel = 'c{i}' GROUP BY channel", source=f"o{i}") for i in range(6)]
    pools = pools_by_task(rows + others, 0, 0)
    stats = SynthStats()
    kept = consistency_filter(
        rows, pools, EmbeddingCache(toy_encoder, show_progress=False), ConsistencyConfig(top_k=2, threshold=0.2), stats
    )
    assert [r.source for r in kept] == ["1", "3"]
    assert stats.stages["inconsistent"]["text2code"] == 1
    assert kept[0].meta["consistency_rank"] == 0 and kept[0].meta["consistency_top_k"] == 2
    strict = consistency_filter(
        rows, pools, EmbeddingCache(toy_encoder, show_progress=False), ConsistencyConfig(top_k=2, threshold=0.99), SynthStats()
    )
    assert strict == []


def test_select_per_category_is_diverse_and_capped(toy_encoder):
    rows = []
    for i in range(12):
        rows.append(t(f"question about topic {i}", f"SELECT topic_{i} FROM t", task="text2sql", source=f"s{i}", check="gold"))
        rows.append(t(f"bug in topic {i}", f"SELECT topic_{i} FROM t", task="sql_bug_description", source=f"s{i}", check="executed"))
        rows.append(t(f"SELECT topic_{i} FROM t", f"explains topic {i}", category="code2text", task="sql_explanation", source=f"s{i}"))
    # near-duplicates of one row: diversity should not take several of them
    rows += [t("question about topic 0 again", "SELECT topic_0 FROM t", source=f"d{i}") for i in range(5)]
    chosen = select_per_category(rows, EmbeddingCache(toy_encoder, show_progress=False), 4)
    text2code = [r for r in chosen if r.category == "text2code"]
    assert len(text2code) == 4 and len([r for r in chosen if r.category == "code2text"]) == 4
    assert len({r.source for r in text2code}) == 4
    assert {r.task_type for r in text2code} == {"text2sql", "sql_bug_description"}
    assert sum(r.query.startswith("question about topic 0") for r in text2code) <= 1
    assert all("quality" in r.meta for r in chosen)


def test_shortlist_round_robins_task_types():
    rows = [t(f"q{i}", f"p{i}", task="text2sql", source=f"a{i}") for i in range(10)]
    rows += [t(f"b{i}", f"r{i}", task="sql_bug_description", source=f"b{i}") for i in range(2)]
    picked = shortlist(rows, 2, 2, seed=0)
    assert len(picked) == 4
    assert sum(r.task_type == "sql_bug_description" for r in picked) == 2
