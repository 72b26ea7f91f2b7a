"""The text-to-SQL prompt: schema + retrieved examples (+ earlier turns) + question, answer with one SQLite query."""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate

from rag.index import Hit

SYSTEM = (
    "You are an expert SQLite developer. Given a database schema and a question, write one SQLite "
    "SELECT query that answers the question. Use only tables and columns from the schema. "
    "Answer with the query in a ```sql code block and nothing else."
)

USER = """### Database schema
{schema}

{examples}{conversation}### Question
{question}

### SQLite query"""

TEXT_TO_SQL_PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", USER)])


def format_examples(hits: list[Hit], max_chars: int = 6000) -> str:
    """Retrieved examples as question → SQL pairs (their schemas are left out to save context)."""
    if not hits:
        return ""
    blocks, used = [], 0
    for number, hit in enumerate(hits, 1):
        block = f"Example {number}\nQuestion: {hit.document.question}\nSQL: {hit.document.sql}\n"
        if used + len(block) > max_chars:
            break
        blocks.append(block)
        used += len(block)
    return "### Similar solved examples\n" + "\n".join(blocks) + "\n"


def format_conversation(conversation: str, max_chars: int = 4000) -> str:
    """Earlier turns of a conversation (a follow-up question may refer to them), newest last; the
    caller keeps them within its token budget, this cut only guards the prompt's size."""
    conversation = conversation.strip()
    if not conversation:
        return ""
    return "### Earlier in this conversation\n" + conversation[-max_chars:] + "\n\n"


def trim_schema(schema: str, max_chars: int = 12000) -> str:
    """Schemas longer than the budget are cut at a statement boundary, with a marker."""
    if len(schema) <= max_chars:
        return schema
    cut = schema.rfind(";", 0, max_chars)
    return schema[: cut + 1 if cut > 0 else max_chars] + "\n-- (schema truncated)"
