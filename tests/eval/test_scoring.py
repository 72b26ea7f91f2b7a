"""EX / EM / EM-AST golden cases (tests/fixtures/eval/scoring_cases.sql), run by one loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.scoring import Scorer
from rag.execution import DatabaseSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"


def load_cases(path: Path) -> list[dict]:
    """Blocks of `-- case:`, `-- expect:`, the gold line, then the prediction (one or more lines)."""
    cases = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if not lines or not lines[0].startswith("-- case:"):
            continue
        expect = dict(item.split("=") for item in lines[1].removeprefix("-- expect:").split())
        cases.append(
            {
                "name": lines[0].removeprefix("-- case:").strip(),
                "gold": lines[2],
                "pred": "\n".join(lines[3:]),
                "ex": expect["ex"] == "1",
                "em": expect["em"] == "1",
                "em_ast": expect["em_ast"] == "1",
                "category": None if expect["category"] == "none" else expect["category"],
            }
        )
    return cases


CASES = load_cases(FIXTURES / "scoring_cases.sql")
SOURCE = DatabaseSource(context=(FIXTURES / "scoring_db.sql").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def scorer():
    with Scorer(timeout_s=0.5) as scorer:
        yield scorer


def test_fixture_file_has_every_kind_of_case():
    categories = {case["category"] for case in CASES}
    assert len(CASES) >= 30
    assert {None, "wrong_result", "parse_error", "execution_error", "no_sql", "timeout"} <= categories


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(scorer, case):
    gold = scorer.gold(case["gold"], SOURCE)
    assert gold.excluded is None
    score = scorer.score(case["pred"], gold)
    assert (score.ex, score.em, score.em_ast, score.category) == (case["ex"], case["em"], case["em_ast"], case["category"])
