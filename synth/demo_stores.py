"""The demo databases' synthesized stores, shipped in rag/data/demo/<name>/synth.jsonl.

What `coderag db add` synthesizes for each demo database (the same synthesizer, seed and size), so
the demo answers everyday questions offline without an LLM on a fresh clone ("How many customers
are there?"). Regenerate after a change to synth.grounded (a test says when they are stale):

    HF_HUB_OFFLINE=1 python -m synth.demo_stores
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rag.corpus import DEMO_DIR, DEMO_SYNTH_FILE, demo_db_path, demo_names
from rag.io import write_jsonl_atomic
from synth.grounded import synthesize_examples

DEMO_STORE_EXAMPLES = 300  # per demo database: enough for everyday questions, ~1,000 documents to embed on first use
DEMO_STORE_SEED = 0


def demo_store_rows(name: str, home: Path, *, show_progress: bool = False) -> list[dict]:
    """The synthesized store of demo database `name`, as the rows synth.jsonl holds."""
    result = synthesize_examples(
        demo_db_path(name, home),
        max_examples=DEMO_STORE_EXAMPLES,
        seed=DEMO_STORE_SEED,
        show_progress=show_progress,
        time_budget_s=600.0,  # the budget never cuts a shipped store short (it would depend on the machine)
    )
    return [{"sql": e.sql, "questions": list(e.questions), "shape": e.shape} for e in result.examples]


def write_demo_stores(home: Path, *, show_progress: bool = True) -> list[Path]:
    written = []
    for name in demo_names():
        target = DEMO_DIR / name / DEMO_SYNTH_FILE
        write_jsonl_atomic(target, demo_store_rows(name, home, show_progress=show_progress))
        written.append(target)
    return written


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        for path in write_demo_stores(Path(scratch)):
            print(f"wrote {path}")
