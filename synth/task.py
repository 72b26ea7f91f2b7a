"""What a synthesis task is: the model every task in the registry (`synth.tasks`) is an instance of.

A task says what the embedder is asked to retrieve (`instruction`), which side of a generated
pair is the query and which the positive (`layout`), and carries its two strategies: the rule
that makes a triplet offline (`rule`, from `synth.rules`) and, for the LLM generator, what each
generation step asks for (`steps`, `outputs`), what language the answer is in (`target`) and how
the quality-control judge words its two verdicts (`judge`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from synth.triplets import Triplet


class Category(str, Enum):
    TEXT2CODE = "text2code"
    CODE2TEXT = "code2text"
    CODE2CODE = "code2code"
    HYBRID = "hybrid"


CATEGORIES: tuple[Category, ...] = tuple(Category)


class Layout(str, Enum):
    """How the query and the positive are formed from the input snippet and the generated text."""

    GENERATED_QUERY = "generated_query"  # query = generated text, positive = the input (text2code)
    GENERATED_POSITIVE = "generated_positive"  # query = the input, positive = generated (code2text, code2code)
    CONTEXT_SPLIT = "context_split"  # query = first part, positive = the rest; no LLM, no judge
    BUG_DESCRIPTION = "bug_description"  # 1: a buggy version, 2: describe its bug; query = description, positive = input
    BUG_FIX = "bug_fix"  # 1: a buggy version plus a symptom; query = that, positive = input
    MODIFICATION = "modification"  # 1: differences input→similar, 2: an instruction; query = instruction + input, positive = similar
    COMPARISON = "comparison"  # 1: a question about input vs similar; query = question + both, 2: the answer = positive
    INSTRUCT_THEN_CODE = "instruct_then_code"  # 1: an instruction for the input; query = instruction + input, 2: the code = positive


TWO_STEP_LAYOUTS = frozenset({Layout.BUG_DESCRIPTION, Layout.MODIFICATION, Layout.COMPARISON, Layout.INSTRUCT_THEN_CODE})
NEEDS_SIMILAR = frozenset({Layout.MODIFICATION, Layout.COMPARISON})


class Target(str, Enum):
    """What the LLM's code answers are written in (and checked against)."""

    INPUT = "input"  # the input's language; SQL must parse as SQLite
    SQL_DIALECT = "sql_dialect"  # a SQL dialect drawn per job; the answer must parse in it
    ANY_DIALECT = "any_dialect"  # SQL in whichever dialect the model chose (a migration)
    CODE_LANGUAGE = "code_language"  # another programming language drawn per job


@dataclass(frozen=True)
class Judge:
    """The quality-control question: what is judged, what the two sides are, the yes and no options."""

    mission: str
    query_type: str
    doc_type: str
    yes: str
    no: str


def yes_no_judge(mission: str, query_type: str, doc_type: str, claim: str, negated: str) -> Judge:
    """A judge whose two verdicts are "Yes, <claim>." and "No, <negated>."."""
    return Judge(mission, query_type, doc_type, f"Yes, {claim}.", f"No, {negated}.")


# A "sql" task's rule takes `SqlFacts`, any other `SnippetFacts` (a subclass): a Callable type cannot
# tie the argument to the task, and a rule taking only `SqlFacts` is no Callable[[Task, SnippetFacts]].
Rule = Callable[["Task", Any], "Triplet | None"]


@dataclass(frozen=True)
class Task:
    """One task type. `languages` is "sql" (SQL inputs only), "code" (other source code) or "any".

    A "sql" task's rule receives `SqlFacts` (the parsed query and its database), any other rule
    `SnippetFacts`. Rules are module-level functions, so a task pickles into worker processes.
    """

    name: str
    category: Category
    instruction: str
    layout: Layout
    languages: str
    steps: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    judge: Judge | None = None
    target: Target = Target.INPUT
    rule: Rule | None = None
    follows: str = ""  # the BGE-Coder task type it mirrors

    @property
    def uses_llm(self) -> bool:
        return bool(self.steps)

    def applies_to(self, language: str) -> bool:
        if self.languages == "any":
            return True
        return (language == "sql") == (self.languages == "sql")
