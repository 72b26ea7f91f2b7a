"""Prompts and strict parsing of the judge's verdict."""

from __future__ import annotations

import doctest

import pytest

from synth import prompts
from synth.prompts import (
    Language,
    clean_content,
    generation_prompt,
    hard_negative_prompt,
    judge_prompt,
    parse_verdict,
)
from synth.tasks import TASKS


def test_module_doctests():
    assert doctest.testmod(prompts).failed == 0


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("1", 1),
        ("0", 0),
        ("2", 2),
        (" 2\n", 2),
        ('"1"', 1),
        ("```\n1\n```", 1),
        ("<think>maybe 2</think>\n1", 1),
        ("10", None),
        ("1.", None),
        ("I'd say 1", None),
        ("1 or 2", None),
        ("", None),
        (None, None),
        ("one", None),
        ("3", None),
        ("Verdict: 1", None),
        ("1\n2", None),
    ],
)
def test_parse_verdict_is_strict(answer, verdict):
    assert parse_verdict(answer) == verdict


def test_clean_content():
    assert clean_content('"What is the total?"') == "What is the total?"
    assert clean_content("```python\ndef f():\n    return 1\n```") == "def f():\n    return 1"
    assert clean_content("  plain  ") == "plain"
    assert clean_content("text with ``` inside") == "text with ``` inside"


def test_generation_prompts_follow_the_layout():
    sql = Language("SQLite")
    one = generation_prompt(TASKS["text2sql"], 0, "SELECT 1", sql, examples=[{"input": "SELECT 2", "output": "Two?"}])
    assert one.startswith("Given a piece of SQLite code, generate a question in English")
    assert "```sql\nSELECT 1\n```" in one and "Example 1" in one and "Two?" in one
    assert one.endswith("Your output:")
    bug0 = generation_prompt(TASKS["sql_bug_description"], 0, "SELECT 1", sql, examples=[{"input": "a", "output": "b"}])
    assert "Example" not in bug0  # few-shot examples only on the final step
    mod = generation_prompt(TASKS["code_modification"], 0, "a = 1", Language("Python"), text_b="a = 2")
    assert "Input code:\n```python\na = 1\n```" in mod and "Output code:\n```python\na = 2\n```" in mod
    translation = generation_prompt(TASKS["sql_translation"], 0, "SELECT 1", Language("SQLite", "PostgreSQL"))
    assert "into PostgreSQL SQL" in translation


def test_judge_and_negative_prompts():
    judge = judge_prompt(TASKS["text2sql"], "How many?", "SELECT COUNT(*) FROM t", Language("SQLite"))
    assert "- 0: The query or document does not match the main task type (text2code)" in judge
    assert "- 1:" in judge and "- 2:" in judge and judge.endswith("Your output:")
    assert "Your output must be a single number (0 or 1 or 2)" in judge
    negative = hard_negative_prompt(TASKS["text2sql"], "How many?", "SELECT COUNT(*) FROM t", Language("SQLite"))
    assert "hard negative document" in negative and "SELECT COUNT(*) FROM t" in negative
