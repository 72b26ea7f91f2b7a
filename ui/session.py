"""A browser session's state (the database picked, the last question, the answered turns) and
the earlier turns a follow-up question's prompt sees."""

from __future__ import annotations

from dataclasses import dataclass

from rag.databases import DatabaseRef

FOLLOW_UP_TOKENS = 500  # earlier turns in an LLM's prompt, at most about this many tokens
FOLLOW_UP_TURNS = 5
CHARS_PER_TOKEN = 4  # a rough count; the schema and the examples have their own budgets


@dataclass(frozen=True)
class Turn:
    """An answered question, as a follow-up question's prompt sees it."""

    question: str
    sql: str
    result: str  # a one-line summary: the row count, the columns and the first row


@dataclass(frozen=True)
class Session:
    """Per-browser-session state: the database picked, the last question asked (what "save as
    example" stores together with the SQL in the editor) and the answered turns (for follow-ups)."""

    db: DatabaseRef
    question: str | None = None
    turns: tuple[Turn, ...] = ()
    saved: tuple[tuple[str, str, str], ...] = ()  # (database key, question, SQL) saved for this session only


def conversation_context(turns: tuple[Turn, ...], budget_tokens: int = FOLLOW_UP_TOKENS) -> str:
    """The earlier turns for an LLM's prompt (its "Earlier in this conversation" section), newest
    kept first when the budget (about `budget_tokens` tokens) runs out; empty without turns."""
    blocks: list[str] = []
    used = 0
    for turn in reversed(turns):
        sql = " ".join(turn.sql.split())
        block = f"-- Q: {' '.join(turn.question.split())}\n-- SQL: {sql}\n-- Result: {turn.result}"
        if used + len(block) > budget_tokens * CHARS_PER_TOKEN:
            break
        blocks.insert(0, block)
        used += len(block)
    if not blocks:
        return ""
    return "(the new question may refer to these)\n" + "\n".join(blocks)
