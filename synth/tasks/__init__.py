"""The task registry: four categories of retrieval tasks, each carrying its rule and LLM plan.

Each entry is a `synth.task.Task`: what the embedder retrieves, how a pair is laid out, the rule
that makes a triplet offline (`synth.rules`), and the LLM generator's steps, answer language and
judge. The four category modules (`text2code`, `code2text`, `code2code`, `hybrid`) are the one
place a task is defined; this registry names them in that order.

The categories and most task types follow BGE-Coder's TripletGenerator (FlagEmbedding,
research/BGE_Coder/data_generation); the `sql_*` tasks are the ones the text-to-SQL RAG needs.

>>> get_task("text2sql").category.value
'text2code'
>>> sorted({t.category.value for t in TASKS.values()})
['code2code', 'code2text', 'hybrid', 'text2code']
"""

from __future__ import annotations

from rag.errors import ConfigError
from synth.task import Category, Task
from synth.tasks.code2code import CODE2CODE
from synth.tasks.code2text import CODE2TEXT
from synth.tasks.hybrid import HYBRID
from synth.tasks.text2code import TEXT2CODE

TASKS: dict[str, Task] = {task.name: task for task in (*TEXT2CODE, *CODE2TEXT, *CODE2CODE, *HYBRID)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown synthesis task '{name}' (known: {', '.join(TASKS)})") from None


def select_tasks(names: list[str] | None) -> list[Task]:
    """Tasks by name or category name ('hybrid' means every hybrid task); None means all of them."""
    if not names:
        return list(TASKS.values())
    chosen: dict[str, Task] = {}
    for raw in names:
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            if name in {c.value for c in Category}:
                chosen.update({t.name: t for t in TASKS.values() if t.category.value == name})
            else:
                task = get_task(name)
                chosen[task.name] = task
    if not chosen:
        raise ConfigError("no synthesis tasks selected")
    return [t for t in TASKS.values() if t.name in chosen]  # registry order, whatever order they were named in
