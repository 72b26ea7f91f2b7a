"""`coderag models check`: one tiny request to the configured LLM, before the first real question.

It says in one line whether the model answers, how fast, and whether it follows the SQL format
(one SELECT and nothing else). A server that does not answer, or a model that writes prose without
SQL, is a one-line ModelError naming the fix (README "Ollama and other local servers").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from rag.errors import CodeRagError, ConfigError, ModelError
from rag.generators import make_generator
from rag.settings import Settings
from rag.sqltools import postprocess

SCHEMA = "CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT, price REAL);"
QUESTION = "How many books are there?"
INSTRUCTION = "You write SQLite queries. Answer with exactly one SQL SELECT statement and nothing else: no explanation, no markdown."
Format = Literal["sql", "fenced", "prose"]


@dataclass(frozen=True)
class CheckResult:
    generator: str
    seconds: float
    format: Format  # sql: the answer is one query; fenced: a query in a code block; prose: text around it
    sql: str

    @property
    def line(self) -> str:
        said = {
            "sql": "follows the SQL format (one query, nothing else)",
            "fenced": "follows the SQL format (one query in a code block)",
            "prose": "writes prose around the SQL (coderag extracts the query; a stricter model or llama.cpp with --grammar follows the format)",
        }[self.format]
        return f"{self.generator} answers in {self.seconds:.1f} s and {said}: {self.sql}"


def check_model(settings: Settings) -> CheckResult:
    """Ask the configured LLM (llama.cpp GGUF or an OpenAI-compatible server) one tiny question."""
    generator, _ = make_generator(settings.generator, settings)
    with generator:
        if generator.name == "knn":
            raise ConfigError(
                "no LLM is configured, so there is nothing to check",
                hint="pass --llm-model-path FILE.gguf, or --openai-base-url URL (llm.model_path / openai.base_url)",
            )
        from langchain_core.messages import HumanMessage, SystemMessage
        from langchain_core.prompt_values import ChatPromptValue

        messages = ChatPromptValue(
            messages=[SystemMessage(content=INSTRUCTION), HumanMessage(content=f"Schema:\n{SCHEMA}\n\nQuestion: {QUESTION}\nSQL:")]
        )
        started = time.perf_counter()
        try:
            raw = generator.generate(messages, [], None)
        except CodeRagError as exc:
            raise ModelError(f"{generator.name} did not answer: {exc.message}", hint=_fix(settings)) from None
        seconds = time.perf_counter() - started
    try:
        sql = postprocess(raw, max_chars=settings.llm.max_answer_chars, max_sql_chars=settings.execution.max_sql_chars)
    except CodeRagError:
        first = " ".join(raw.split())[:120] or "(nothing)"
        raise ModelError(
            f"{generator.name} answers in {seconds:.1f} s, but with prose and no SQL query: “{first}”",
            hint="use an instruction-tuned model that writes code (e.g. qwen2.5-coder or mistral-instruct), or llama.cpp with --grammar",
        ) from None
    return CheckResult(generator.name, seconds, answer_format(raw), sql)


def answer_format(raw: str) -> Format:
    """Whether an answer is only SQL, only a fenced code block, or prose around the query.

    >>> answer_format("SELECT count(*) FROM books;"), answer_format("```sql\\nSELECT 1\\n```"), answer_format("Sure! SELECT 1")
    ('sql', 'fenced', 'prose')
    """
    text = raw.strip()
    if text.startswith("```") and text.endswith("```") and text.count("```") == 2:
        return "fenced"
    import sqlglot

    try:
        statements = [s for s in sqlglot.parse(text, read="sqlite") if s is not None]
    except sqlglot.errors.SqlglotError:
        return "prose"
    return "sql" if len(statements) == 1 and isinstance(statements[0], sqlglot.exp.Query) else "prose"


def _fix(settings: Settings) -> str:
    if settings.llm.model_path and settings.generator in ("auto", "llm"):
        return "check llm.model_path points at a GGUF file this llama.cpp can load"
    url = settings.openai.base_url or "(unset)"
    return (
        f"is the server at {url} running, and does it serve the model '{settings.openai.model}'? "
        "Ollama: `ollama serve`, `ollama pull MODEL`, --openai-base-url http://127.0.0.1:11434/v1 and CODERAG_OPENAI__MODEL=MODEL; "
        "a slow first answer: raise openai.timeout_s"
    )
