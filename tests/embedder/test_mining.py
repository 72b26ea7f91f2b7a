"""Hard-negative refresh with the synthesis module's miner, per category, and `coderag embedder mine`."""

from __future__ import annotations

import csv
from pathlib import Path

from embedder_testing import TRIPLETS, one_error_line

from embedder.mining import refresh_negatives
from synth.mining import MiningConfig
from synth.triplets import read_triplets


def test_negatives_come_from_the_same_category_and_never_a_own_positive(encoder) -> None:
    triplets = read_triplets(TRIPLETS)
    positives_by_category: dict[str, set[str]] = {}
    for t in triplets:
        positives_by_category.setdefault(t.category, set()).add(t.pos)
    counts = refresh_negatives(encoder, triplets, MiningConfig(strategy="rank", rank_range=(0, 1), margin=0.0), "test")
    assert counts["rows mined"] == 16
    for t in triplets:
        assert t.neg != t.pos and t.neg in positives_by_category[t.category]
        assert t.meta["neg_origin"] == "test"
    # rank (0, 1) takes the best-ranked other positive: the hardest negative the model sees
    text2code = [t for t in triplets if t.category == "text2code"]
    pool = sorted(positives_by_category["text2code"])
    ranking = (encoder.encode([t.query for t in text2code]) @ encoder.encode(pool).T).argsort(axis=1)[:, ::-1]
    for t, order in zip(text2code, ranking):
        assert t.neg in {pool[j] for j in order[:2]}  # the best-ranked, or second after the row's own positive


def test_cli_writes_csv_and_jsonl_and_refuses_to_overwrite(coderag, tmp_path: Path) -> None:
    out = tmp_path / "mined.csv"
    code, stdout, stderr = coderag("embedder", "mine", "--model", "bundled", "--data", str(TRIPLETS), "--out", str(out))
    assert code == 0, stderr
    assert "rows mined: 16" in stdout
    rows = list(csv.DictReader(out.open()))
    original = list(csv.DictReader(TRIPLETS.open()))
    assert [r["query"] for r in rows] == [r["query"] for r in original] and all(r["neg"] and r["neg"] != r["pos"] for r in rows)
    assert out.with_suffix(".jsonl").is_file()
    code, _, stderr = coderag("embedder", "mine", "--model", "bundled", "--data", str(TRIPLETS), "--out", str(out))
    assert code == 2 and "already exists" in one_error_line(stderr)
    code, _, stderr = coderag("embedder", "mine", "--model", "bundled", "--data", str(TRIPLETS), "--out", str(tmp_path / "x.txt"))
    assert code == 2 and ".csv" in one_error_line(stderr)
