"""LLM paraphrases with a scripted chat model: kept only when new, value-preserving and judged 1."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from synth.grounded.paraphrase import paraphrase_prompt, paraphrase_questions
from synth.grounded.synthesize import GroundedExample


def example() -> GroundedExample:
    return GroundedExample(
        sql="SELECT name FROM customers WHERE city = 'Lima'",
        questions=["Which customers have city 'Lima'?", "List the customers whose city is Lima."],
        shape="filter",
        columns=["name"],
        rows_preview=[("Ana",)],
    )


def test_paraphrases_are_checked_before_they_are_kept():
    model = FakeListChatModel(
        responses=[
            "1. Who are the customers living in Lima?\n2. Which customers have city 'Lima'?\n3. Show customers from Quito",
            "1",  # judge: the first paraphrase answers the question
        ]
    )
    ex = example()
    stats = paraphrase_questions([ex], model, per_example=3)
    assert ex.questions[-1] == "Who are the customers living in Lima?"
    assert len(ex.questions) == 3
    assert stats.proposed == 3 and stats.kept == 1
    assert stats.rejected == {"duplicate": 1, "lost_value": 1}


def test_the_judge_must_answer_exactly_one():
    for verdict in ("2", "0", "I think 1", "1."):
        model = FakeListChatModel(responses=["Customers in Lima?", verdict])
        ex = example()
        stats = paraphrase_questions([ex], model, per_example=1)
        assert len(ex.questions) == 2 and stats.rejected == {"judged_out": 1}, verdict


def test_without_the_judge_only_the_cheap_checks_apply():
    model = FakeListChatModel(responses=["- Customers in Lima, please.\n- Lima customers?"])
    ex = example()
    stats = paraphrase_questions([ex], model, judge=False, per_example=2)
    assert ex.questions[2:] == ["Customers in Lima, please.", "Lima customers?"]
    assert stats.kept == 2


def test_prompt_names_the_sql_and_the_count():
    prompt = paraphrase_prompt("How many orders?", "SELECT COUNT(*) FROM orders", 3)
    assert "SELECT COUNT(*) FROM orders" in prompt and "3 different ways" in prompt
