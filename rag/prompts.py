"""The text-to-SQL prompt: the linked schema + matched values + retrieved examples (+ earlier turns) + question.

The system prompt names the database's engine and its quoting rule. The schema part is the whole
schema when it fits `linking.prompt_schema_chars`; otherwise the tables the question was linked to
(rag.linking), in a compact M-Schema-like form: each table's columns with their types, keys and a
few sample values, then the foreign keys that join them, then the cell values and numbers the
question was matched to. On an execution error, `repair_messages` adds one turn showing the error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.prompts import ChatPromptTemplate

from rag.index import Hit

if TYPE_CHECKING:
    from rag.linked import Link

ENGINES = {
    "sqlite": ("SQLite", 'quote identifiers with double quotes ("Order Details")'),
    "postgres": ("PostgreSQL", 'quote identifiers with double quotes ("Order Details"); names are case-sensitive when quoted'),
    "mysql": ("MySQL/MariaDB", "quote identifiers with backticks (`Order Details`)"),
    "duckdb": ("DuckDB", 'quote identifiers with double quotes ("Order Details")'),
}

SYSTEM = (
    "You are an expert {engine} developer. Given a database schema and a question, write one {engine} "
    "SELECT query that answers the question. Use only tables and columns from the schema; {quoting}. "
    "Compare text with the stored values listed under matched values when they are given. "
    "Answer with the query in a ```sql code block and nothing else."
)

USER = """### Database schema
{schema}

{values}{examples}{candidates}{conversation}### Question
{question}

### {engine} query"""

TEXT_TO_SQL_PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", USER)])


def engine_words(dialect: str) -> dict[str, str]:
    """The prompt's engine name and quoting rule for a sqlglot dialect."""
    engine, quoting = ENGINES.get(dialect, ENGINES["sqlite"])
    return {"engine": engine, "quoting": quoting}


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
    """Schemas longer than the budget are cut at a statement boundary, with a marker (used only
    where no link is available, e.g. a pasted schema without a database)."""
    if len(schema) <= max_chars:
        return schema
    cut = schema.rfind(";", 0, max_chars)
    return schema[: cut + 1 if cut > 0 else max_chars] + "\n-- (schema truncated)"


def schema_part(schema_sql: str, link: Link | None, max_chars: int) -> str:
    """The whole schema when it fits `max_chars`, else the linked tables in compact form."""
    if link is None or len(schema_sql) <= max_chars:
        return trim_schema(schema_sql, max_chars)
    return linked_schema(link, max_chars)


def linked_schema(link: Link, max_chars: int) -> str:
    """The linked tables, best first, each as `# Table: name (rows)` and one line per column
    (`name: TYPE, primary key, → parent.column, e.g. [values]`), then the join keys; tables that do
    not fit the budget are named at the end, never cut in the middle."""
    tables = {t.name: t for t in link.schema.tables}
    parents = {(fk.table, c): f"{fk.ref_table}.{r}" for fk in link.schema.foreign_keys for c, r in zip(fk.columns, fk.ref_columns)}
    blocks: list[str] = []
    left_out: list[str] = []
    used = 0
    for name in link.table_names:
        table = tables.get(name)
        if table is None:
            continue
        lines = [f"# Table: {name} ({table.rows:,} rows)"]
        for column in table.columns:
            notes = [column.type or "ANY"]
            if column.pk:
                notes.append("primary key")
            if (name, column.name) in parents:
                notes.append(f"→ {parents[(name, column.name)]}")
            if column.values and column.kind in ("text", "date", "number", "boolean"):
                notes.append("e.g. " + ", ".join(_show(v) for v in column.values[:3]))
            lines.append(f"  {column.name}: " + ", ".join(notes))
        block = "\n".join(lines)
        if used + len(block) > max_chars:
            left_out.append(name)
            continue
        blocks.append(block)
        used += len(block) + 1
    if link.joins:
        joins = "# Joins\n" + "\n".join(
            "  " + " AND ".join(f"{fk.table}.{a} = {fk.ref_table}.{b}" for a, b in zip(fk.columns, fk.ref_columns)) for fk in link.joins
        )
        if used + len(joins) <= max_chars:
            blocks.append(joins)
    if left_out:
        blocks.append(f"-- {len(link.schema.tables) - len(blocks)} more tables not shown (not linked to the question)")
    return "\n".join(blocks)


def format_values(link: Link | None) -> str:
    """The cell values and numbers with units the question was matched to, as the database stores them."""
    if link is None or not (link.values or link.units):
        return ""
    lines = [f"- {v.table}.{v.column} = {_show(v.value)} (the question says “{v.phrase}”)" for v in link.values[:12]]
    lines += [f"- {u.table}.{u.column}: {u.conversion}" for u in link.units[:6]]
    return "### Matched values\n" + "\n".join(lines) + "\n\n"


def format_candidates(candidates: list[str]) -> str:
    """Queries composed for this very question from its linked names (rag.compose), as a starting point."""
    if not candidates:
        return ""
    return "### Queries composed from the names and values the question uses (check them)\n" + "\n".join(candidates[:2]) + "\n\n"


def build_prompt(
    question: str,
    schema_sql: str,
    hits: list[Hit],
    *,
    link: Link | None,
    dialect: str,
    max_schema_chars: int,
    conversation: str = "",
    candidates: list[str] | None = None,
) -> Any:
    """The chat prompt for one question (a LangChain prompt value)."""
    return TEXT_TO_SQL_PROMPT.invoke(
        {
            **engine_words(dialect),
            "schema": schema_part(schema_sql, link, max_schema_chars),
            "values": format_values(link),
            "examples": format_examples(hits),
            "candidates": format_candidates(candidates or []),
            "conversation": format_conversation(conversation),
            "question": question,
        }
    )


def repair_prompt(prompt: Any, sql: str, error: str) -> Any:
    """The same prompt with one more turn: the query that failed and the engine's error."""
    from langchain_core.messages import AIMessage, HumanMessage

    messages = list(prompt.to_messages())
    messages += [
        AIMessage(content=f"```sql\n{sql}\n```"),
        HumanMessage(content=f"Running that query failed: {error}\nWrite a corrected query, in a ```sql code block and nothing else."),
    ]
    from langchain_core.prompt_values import ChatPromptValue

    return ChatPromptValue(messages=messages)


def _show(value: Any) -> str:
    text = str(value)
    text = text if len(text) <= 40 else text[:39] + "…"
    return f"'{text}'" if isinstance(value, str) else text
