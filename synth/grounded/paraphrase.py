"""LLM paraphrases of synthesized questions, each kept only when it passes strict checks.

The rule-based questions cover the schema; a chat model (any langchain `BaseChatModel`: the
llama.cpp chat, an OpenAI-compatible server) rewords them the way people ask. A paraphrase is
kept only when it is new (no example asks it already), still names every value its SQL uses
(`checks.mentioned_values`: a paraphrase that drops 'Lima' asks something else), and, with
`judge`, the quality-control judge of the `text2sql` task answers exactly 1 ("the SQL query
answers the question", `synth.prompts.judge_prompt` / `parse_verdict`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from tqdm.auto import tqdm

from synth.grounded.checks import mentioned_values
from synth.grounded.phrasing import finish
from synth.grounded.synthesize import GroundedExample
from synth.prompts import Language, clean_content, judge_prompt, parse_verdict
from synth.sql.syntax import parse_query
from synth.tasks import get_task

_NUMBERING = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")


@dataclass
class ParaphraseStats:
    """Paraphrases asked for, proposed by the model, kept, and rejected by reason."""

    asked: int = 0
    proposed: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def paraphrase_prompt(question: str, sql: str, count: int) -> str:
    """Ask for `count` rewordings of a question that keep its meaning and its values."""
    return (
        f"Rewrite the question below in {count} different ways, as different people would ask it. Each rewrite "
        "must ask for exactly what the SQL query returns: keep every value (names, numbers, dates) exactly as "
        "written, and do not add or drop conditions.\n\n"
        f"Question: {question}\n\nSQL query:\n```sql\n{sql}\n```\n\n"
        f"Write the {count} questions one per line, with no numbering and nothing else. Your output:"
    )


def _lines(reply: str) -> list[str]:
    return [_NUMBERING.sub("", line).strip().strip('"') for line in clean_content(reply).splitlines() if line.strip()]


def paraphrase_questions(
    examples: list[GroundedExample],
    chat_model: BaseChatModel,
    *,
    judge: bool = True,
    per_example: int = 2,
    show_progress: bool = False,
) -> ParaphraseStats:
    """Add up to `per_example` checked LLM paraphrases to each example's questions (in place)."""
    stats = ParaphraseStats()
    task, language = get_task("text2sql"), Language("SQLite")
    asked = {q.lower() for example in examples for q in example.questions}
    for example in tqdm(examples, desc="paraphrasing questions", unit="ex", disable=not show_progress):
        stats.asked += per_example
        tree = parse_query(example.sql)
        values = [v.lower() for v in mentioned_values(tree)] if tree is not None else []
        reply = chat_model.invoke(paraphrase_prompt(example.questions[0], example.sql, per_example)).content
        for line in _lines(str(reply))[:per_example]:
            stats.proposed += 1
            question = finish(line)
            if question.lower() in asked:
                stats.reject("duplicate")
                continue
            if not all(v in question.lower() for v in values):
                stats.reject("lost_value")
                continue
            if judge:
                verdict = chat_model.invoke(judge_prompt(task, question, example.sql, language)).content
                if parse_verdict(str(verdict)) != 1:
                    stats.reject("judged_out")
                    continue
            example.questions.append(question)
            asked.add(question.lower())
            stats.kept += 1
    return stats
