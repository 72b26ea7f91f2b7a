"""The demo databases' shipped synthesized stores are what the synthesizer makes now."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.corpus import DEMO_DIR, DEMO_SYNTH_FILE, demo_names, load_demo_synth
from rag.io import read_jsonl
from synth.demo_stores import DEMO_STORE_EXAMPLES, demo_store_rows


@pytest.mark.parametrize("name", demo_names())
def test_the_shipped_store_is_current(name: str, tmp_path: Path) -> None:
    shipped = list(read_jsonl(DEMO_DIR / name / DEMO_SYNTH_FILE))
    assert len(shipped) == DEMO_STORE_EXAMPLES
    assert demo_store_rows(name, tmp_path) == shipped, "stale: regenerate with `python -m synth.demo_stores`"


def test_the_shipped_store_loads_as_synthesized_examples() -> None:
    examples = load_demo_synth("bookshop", "/nonexistent/bookshop.sqlite")
    assert examples and all(e.meta["origin"] == "synth" and e.db_id == "bookshop" for e in examples)
    assert len({e.id for e in examples}) == len(examples)
