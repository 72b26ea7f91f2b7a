"""Structure augmentation: skeleton and same-skeleton rows derived from the triplet file only."""

from __future__ import annotations

import pytest
from embedder_testing import TRIPLETS

from embedder.augment import augment
from rag.errors import ConfigError
from synth.triplets import Triplet, load_triplets

ROWS = [
    Triplet("Which crops were planted after 2020?", "SELECT name FROM crops WHERE year > 2020", "SELECT COUNT(*) FROM crops", "text2code"),
    Triplet(
        "Which flights left after noon?", "SELECT code FROM flights WHERE hour > 12", "SELECT code FROM flights WHERE hour > 9", "text2code"
    ),
    Triplet("SELECT code FROM flights", "list every flight code", "", "code2text"),
]


def test_skeleton_rows_mask_names_and_values() -> None:
    rows = [r for r in augment(ROWS, ("skeleton",))]
    assert [(r.query, r.pos, r.neg) for r in rows] == [
        ("Which crops were planted after 2020?", "SELECT _ FROM _ WHERE _ > ?", "SELECT COUNT(*) FROM _"),
        ("Which flights left after noon?", "SELECT _ FROM _ WHERE _ > ?", ""),  # the negative has the same shape: dropped
    ]
    assert {r.task_type for r in rows} == {"skeleton"} and {r.category for r in rows} == {"augmented"}


def test_same_skeleton_rows_pair_queries_across_databases() -> None:
    rows = augment(ROWS, ("same_skeleton",))
    assert [(r.query, r.pos) for r in rows] == [
        ("Which crops were planted after 2020?", "SELECT code FROM flights WHERE hour > 12"),
        ("Which flights left after noon?", "SELECT name FROM crops WHERE year > 2020"),
    ]
    assert rows[0].neg == "SELECT COUNT(*) FROM crops" and rows[1].neg == ""  # a same-shape negative would contradict the positive


def test_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="unknown augmentation"):
        augment(ROWS, ("paraphrase",))


def test_extend_counts_only_new_rows() -> None:
    triplets = load_triplets(TRIPLETS)
    added = triplets.extend(augment(triplets.rows) + augment(triplets.rows), "augmented_rows")
    assert added == triplets.extra["augmented_rows"] > 0 and len(triplets.rows) == 16 + added
