"""Prompts for the LLM triplet generator and strict parsing of what comes back.

The wording follows BGE-Coder's generation, quality-control and hard-negative prompts
(FlagEmbedding research/BGE_Coder/data_generation/constant.py), adapted to the task registry.

>>> parse_verdict("1")
1
>>> parse_verdict("10") is None, parse_verdict("1.") is None, parse_verdict("I'd say 1") is None
(True, True, True)
>>> clean_content("<think>hmm</think>\\n```sql\\nSELECT 1\\n```")
'SELECT 1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from synth.task import Category, Layout, Task

_FENCED = re.compile(r"^```[\w+#.-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)
_VERDICT = re.compile(r"[012]")


def clean_content(text: str | None) -> str:
    """The answer without a reasoning prefix, surrounding quotes or one enclosing code fence."""
    if text is None:
        return ""
    content = str(text).split("</think>")[-1].strip()
    if len(content) >= 2 and content[0] == content[-1] == '"':
        content = content[1:-1].strip()
    fenced = _FENCED.match(content)
    if fenced:
        content = fenced.group(1).strip()
    return content


def parse_verdict(text: str | None) -> int | None:
    """The judge's verdict: exactly one digit 0, 1 or 2 (after removing a reasoning prefix,
    quotes and a code fence); anything else ("10", "1.", "I'd say 1") is None."""
    content = clean_content(text)
    return int(content) if _VERDICT.fullmatch(content) else None


@dataclass(frozen=True)
class Language:
    """How prompts name the input's language and, for translations, the target's."""

    code: str
    target: str = ""

    @property
    def fence(self) -> str:
        return "sql" if self.code.lower().startswith(("sqlite", "sql")) else self.code.lower().split()[0]


def _fill(template: str, language: Language) -> str:
    return template.replace("{code_language}", language.code).replace("{tgt_language}", language.target or language.code)


def generation_prompt(
    task: Task, step: int, text: str, language: Language, *, text_b: str | None = None, examples: list[dict[str, Any]] | None = None
) -> str:
    """The prompt for generation step `step` of `task` on `text` (and `text_b`, the similar snippet)."""
    instruction = _fill(task.steps[step], language)
    output = _fill(task.outputs[step], language)
    fence = language.fence
    if task.layout in (Layout.MODIFICATION, Layout.COMPARISON) and step == 0:
        body = f"Input code:\n```{fence}\n{text}\n```\n\nOutput code:\n```{fence}\n{text_b}\n```"
    elif task.layout == Layout.MODIFICATION and step == 1:
        body = f"Differences:\n```\n{text}\n```"
    elif step == 1 and task.layout in (Layout.COMPARISON, Layout.INSTRUCT_THEN_CODE):
        body = f"Hybrid:\n```\n{text}\n```"
    else:
        body = f"Code:\n```{fence}\n{text}\n```"
    prompt = (
        f"{instruction}\n\n{body}\n\n"
        "Note:\n"
        f"- Your output must always be a string, only containing {output}.\n"
        "- Your output should be independent of the given code, which means that it should not contain the pronouns "
        'such as "it", "this", "that", "the given", "the provided", etc.\n\n'
    )
    final_step = step == len(task.steps) - 1
    if examples and final_step:
        shown = "".join(
            f"- Example {i}:\n    Input:\n    ```\n    {ex['input']}\n    ```\n    Expected Output ({output}):\n    ```\n    {ex['output']}\n    ```\n\n"
            for i, ex in enumerate(examples, 1)
        )
        prompt += f"Here are a few examples for your reference:\n{shown}"
    return prompt + "Remember do not explain your output or output anything else. Your output:"


_TYPE_CHECKS = {
    Category.TEXT2CODE: "the query contains code snippets or the document contains non-code content (plain text).",
    Category.CODE2TEXT: "the query contains non-code content (plain text) or the document contains code snippets.",
    Category.CODE2CODE: "either the query or the document contains non-code content (plain text).",
    Category.HYBRID: "neither the query nor the document contains the mixed content of code and text content.",
}


def judge_prompt(task: Task, query: str, pos: str, language: Language) -> str:
    """BGE-Coder's quality-control prompt: answer 0 (type mismatch), 1 (good) or 2 (bad)."""
    assert task.judge is not None
    judge = task.judge
    category = task.category.value
    return (
        f"Given a code retrieval task (Task), a query (Query), and a document (Document), your mission is to {judge.mission}.\n\n"
        f"Task ({category}): {_fill(task.instruction, language)}\n\n"
        f"Query ({judge.query_type}):\n```\n{query}\n```\n\n"
        f"Document ({judge.doc_type}):\n```\n{pos}\n```\n\n"
        "Your output must be one of the following options:\n"
        f"- 0: The query or document does not match the main task type ({category}), which means that {_TYPE_CHECKS[task.category]}\n"
        f"- 1: The query and document match the main task type ({category}). The judgment is: {judge.yes}\n"
        f"- 2: The query and document match the main task type ({category}). The judgment is: {judge.no}\n\n"
        "Do not explain your answer in the output. Your output must be a single number (0 or 1 or 2).\n\n"
        "Your output:"
    )


def hard_negative_prompt(task: Task, query: str, pos: str, language: Language) -> str:
    """Ask for a document that only looks relevant: same kind as the positive, wrong for the query."""
    return (
        "Given a code retrieval task (Task), a query (Query), and a positive document (Positive Document), your mission is "
        "to generate a hard negative document that only appears relevant to the query under the code retrieval task.\n\n"
        f"Task ({task.category.value}): {_fill(task.instruction, language)}\n\n"
        f"Query:\n```\n{query}\n```\n\n"
        f"Positive Document:\n```\n{pos}\n```\n\n"
        "Note:\n"
        "- Your output must always be a string, only containing the hard negative document.\n"
        "- The hard negative document should be similar to the positive document in terms of content. If the positive "
        "document is a code snippet, the hard negative document should also be a code snippet. If the positive document "
        "is a text description, the hard negative document should also be a text description.\n\n"
        "Remember do not explain your output or output anything else. Your output:"
    )
