"""`coderag retrain --db NAME`: held-back questions never train, person-written ones never train,
and the loop measures both models on the database's own store before it switches."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.grounded.databases import make_school

from embedder.dbretrain import split_store
from embedder.registry import set_current
from rag.corpus import Example
from rag.models import DEFAULT_MODEL, read_registry


def _example(n: int, sql: str, origin: str) -> Example:
    return Example(id=f"e{n}", question=f"question {n}", sql=sql, db_id="db", context="", meta={"origin": origin})


def test_split_holds_back_questions_and_never_trains_on_people() -> None:
    examples = [_example(i, f"SELECT {i // 3}", "synth") for i in range(60)]  # 20 queries, 3 questions each
    examples += [_example(100, "SELECT 0", "person"), _example(101, "SELECT 999", "saved")]
    split = split_store(examples, held_back_share=0.5, seed=1)
    train_ids, held_ids = {e.id for e in split.train}, {e.id for e in split.held_back}
    assert not train_ids & held_ids and train_ids | held_ids <= {e.id for e in examples}
    assert "e100" in held_ids and "e101" not in train_ids | held_ids  # a person's example with no sibling is not a query
    synth_held = [e for e in split.held_back if e.meta["origin"] == "synth"]
    assert 3 <= len(synth_held) <= 17
    for held in synth_held:  # its query still has questions to be found among the training documents
        assert any(t.sql == held.sql for t in split.train)


@pytest.mark.slow
def test_retrain_db_measures_before_and_after_on_the_store(coderag, coderag_home: Path, tmp_path: Path) -> None:
    school = make_school(tmp_path / "school.sqlite")
    assert coderag("db", "add", str(school), "--name", "school", "--examples", "120", "--quiet").returncode == 0
    try:
        result = coderag("retrain", "--db", "school", "--max-triplets", "48", "--batch-size", "16")
        assert result.returncode == 0, result.stderr
        assert "held-back questions of 'school'" in result.stdout and "mrr@10" in result.stdout
        registry = read_registry(coderag_home / "models")
        if "switched to" in result.stdout:
            assert registry["current"] == registry["versions"][-1]["name"]
        else:
            assert "kept" in result.stdout
    finally:
        set_current(coderag_home / "models", DEFAULT_MODEL)  # later tests expect the default model
        assert coderag("db", "remove", "school").returncode == 0
