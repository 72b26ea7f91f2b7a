"""The code2text tasks: a piece of code retrieves the text that explains, summarizes or asks for it."""

from __future__ import annotations

from synth import rules
from synth.task import Category, Layout, Task, yes_no_judge

CODE2TEXT: tuple[Task, ...] = (
    Task(
        "sql_explanation",
        Category.CODE2TEXT,
        "Given a SQL query, retrieve the explanation of what it does.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=("Given a piece of {code_language} code, generate a short explanation in English of what the code computes and how.",),
        outputs=("the generated explanation in English",),
        judge=yes_no_judge(
            "judge whether the text explains the SQL query",
            "the SQL query",
            "the text",
            "the text explains the SQL query",
            "the text does not explain the SQL query",
        ),
        rule=rules.rule_sql_explanation,
        follows="code_summary_retrieval",
    ),
    Task(
        "sql_to_question",
        Category.CODE2TEXT,
        "Given a SQL query, retrieve the question in text that it answers.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=("Given a piece of {code_language} code, generate the question in English that a user asked and that the code answers.",),
        outputs=("the generated question in English",),
        judge=yes_no_judge(
            "judge whether the SQL query answers the question",
            "the SQL query",
            "the question",
            "the SQL query answers the question",
            "the SQL query does not answer the question",
        ),
        rule=rules.rule_sql_to_question,
        follows="code_to_requirement_retrieval",
    ),
    Task(
        "code_summary",
        Category.CODE2TEXT,
        "Given a piece of code, retrieve the document string that summarizes the code.",
        Layout.GENERATED_POSITIVE,
        "code",
        steps=("Given a piece of {code_language} code, generate a summary in English of the code.",),
        outputs=("the generated summary in English",),
        judge=yes_no_judge(
            "judge whether the text summarizes the code",
            "the code",
            "the text",
            "the text summarizes the code",
            "the text does not summarize the code",
        ),
        rule=rules.rule_code_summary,
        follows="code_summary_retrieval",
    ),
)
