"""The task registry: four categories, the SQL tasks the RAG needs, BGE-Coder's general tasks."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from synth.rules import RULE_TASKS
from synth.tasks import (
    CATEGORIES,
    NEEDS_SIMILAR,
    TASKS,
    TWO_STEP_LAYOUTS,
    Category,
    Layout,
    select_tasks,
)


def test_every_category_has_tasks_and_rules():
    for category in CATEGORIES:
        tasks = [t for t in TASKS.values() if t.category == category]
        assert tasks, category
        assert any(t.name in RULE_TASKS for t in tasks), f"{category} has no rule-based task"


def test_required_tasks_are_registered():
    sql = {"text2sql", "sql_explanation", "sql_translation", "sql_rewrite", "sql_modification", "sql_bug_description"}
    general = {"web_code_retrieval", "code_summary", "code_translation", "code_context", "bug_description", "code_modification",
               "code_comparison", "code_refactoring", "code_style", "code_migration"}
    assert sql | general <= set(TASKS)


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
