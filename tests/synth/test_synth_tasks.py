"""The task registry: four categories, the SQL tasks the RAG needs, BGE-Coder's general tasks;
each task carries its own rule and LLM plan."""

from __future__ import annotations

import doctest
import pickle
import random

import pytest
from synth_fixtures import shop_example

from rag.errors import ConfigError
from synth import tasks as registry
from synth.llm import Job, answer_format, language_of
from synth.prompts import generation_prompt, judge_prompt
from synth.rules import generate_rule_triplets
from synth.sources import Snippet, snippets_from_examples
from synth.task import (
    CATEGORIES,
    NEEDS_SIMILAR,
    TWO_STEP_LAYOUTS,
    Category,
    Layout,
    Target,
)
from synth.tasks import TASKS, select_tasks

REQUIRED_SQL = ("text2sql", "sql_explanation", "sql_translation", "sql_rewrite", "sql_modification", "sql_bug_description")
REQUIRED_GENERAL = (
    "web_code_retrieval",
    "code_summary",
    "code_translation",
    "code_context",
    "bug_description",
    "code_modification",
    "code_comparison",
    "code_refactoring",
    "code_style",
    "code_migration",
)


def test_module_doctests():
    assert doctest.testmod(registry).failed == 0


def test_every_category_has_tasks_and_rules():
    for category in CATEGORIES:
        tasks = [t for t in TASKS.values() if t.category == category]
        assert tasks, category
        assert any(t.rule is not None for t in tasks), f"{category} has no rule-based task"


def test_required_sql_tasks_make_triplets_with_their_own_rules(shop_examples):
    """Each SQL task the RAG needs is registered and its rule makes a triplet from the shop examples."""
    examples = [
        *shop_examples,
        shop_example(
            5,
            "Which two products cost the most?",
            "SELECT name FROM products ORDER BY price DESC LIMIT 2",
            "Sorts products by price, highest first, and keeps two.",
        ),
    ]
    triplets, stats = generate_rule_triplets(
        snippets_from_examples(examples).snippets, select_tasks(list(REQUIRED_SQL)), show_progress=False
    )
    assert {t.task_type for t in triplets} == set(REQUIRED_SQL), stats.notes
    assert stats.total("failures") == 0


@pytest.mark.parametrize("name", REQUIRED_GENERAL)
def test_required_general_tasks_have_a_working_strategy(name):
    """Each of BGE-Coder's general tasks is registered with a rule, or LLM steps whose prompts render."""
    task = TASKS[name]
    assert task.rule is not None or task.uses_llm, name
    if task.uses_llm:
        snippet = Snippet(text="def area(w, h):\n    return w * h", language="python", origin="geo.py:area")
        language = language_of(Job(task, snippet), random.Random(0))
        for step in range(len(task.steps)):
            prompt = generation_prompt(task, step, snippet.text, language, text_b=snippet.text)
            assert "{code_language}" not in prompt and "{tgt_language}" not in prompt
        assert "Your output must be a single number" in judge_prompt(task, "q", "p", language)


def test_translation_tasks_say_what_their_answers_are_in():
    sql = Snippet(text="SELECT 1", language="sql", origin="q")
    code = Snippet(text="x = 1", language="python", origin="p")
    translation = language_of(Job(TASKS["sql_translation"], sql), random.Random(0))
    assert translation.target and answer_format(TASKS["sql_translation"], "sql", translation)[1] in (
        "postgres",
        "mysql",
        "tsql",
        "oracle",
        "duckdb",
        "bigquery",
        "snowflake",
    )
    assert answer_format(TASKS["sql_migration"], "sql", language_of(Job(TASKS["sql_migration"], sql), random.Random(0))) == ("sql", None)
    go = language_of(Job(TASKS["code_translation"], code), random.Random(0))
    assert go.target != "Python" and answer_format(TASKS["code_translation"], "python", go) == (go.target.lower(), "sqlite")
    assert answer_format(TASKS["text2sql"], "sql", language_of(Job(TASKS["text2sql"], sql), random.Random(0))) == ("sql", "sqlite")
    assert {t.name for t in TASKS.values() if t.target != Target.INPUT} == {"sql_translation", "sql_migration", "code_translation"}


def test_tasks_pickle_into_worker_processes():
    for task in TASKS.values():
        assert pickle.loads(pickle.dumps(task)) == task


def test_task_definitions_are_consistent():
    for task in TASKS.values():
        assert task.instruction and task.languages in ("sql", "code", "any")
        assert len(task.steps) == len(task.outputs)
        if task.layout == Layout.CONTEXT_SPLIT:
            assert not task.uses_llm and task.judge is None
            continue
        assert task.judge is not None, task.name
        if task.layout in TWO_STEP_LAYOUTS:
            assert len(task.steps) == 2, task.name
    assert TASKS["code_context"].applies_to("sql") and TASKS["code_context"].applies_to("go")
    assert TASKS["text2sql"].applies_to("sql") and not TASKS["text2sql"].applies_to("python")
    assert TASKS["code_summary"].applies_to("python") and not TASKS["code_summary"].applies_to("sql")
    assert all(TASKS[n].layout in NEEDS_SIMILAR for n in ("code_modification", "code_comparison"))


def test_select_tasks_by_name_and_category():
    assert [t.name for t in select_tasks(["sql_style,text2sql"])] == ["text2sql", "sql_style"]
    hybrid = select_tasks(["hybrid"])
    assert hybrid and all(t.category == Category.HYBRID for t in hybrid)
    assert len(select_tasks(None)) == len(TASKS)
    with pytest.raises(ConfigError, match="unknown synthesis task 'nope'"):
        select_tasks(["nope"])
    with pytest.raises(ConfigError):
        select_tasks([" , "])
