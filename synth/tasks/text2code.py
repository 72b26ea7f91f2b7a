"""The text2code tasks: a text (a question, an explanation, a bug report) retrieves the code it asks for.

The `sql_*` tasks are the ones the text-to-SQL RAG needs; the others follow BGE-Coder's TripletGenerator.
"""

from __future__ import annotations

from synth import rules
from synth.task import Category, Layout, Task, yes_no_judge

TEXT2CODE: tuple[Task, ...] = (
    Task(
        "text2sql",
        Category.TEXT2CODE,
        "Given a question in text, retrieve SQL queries that are appropriate responses to the question.",
        Layout.GENERATED_QUERY,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate a question in English that a user could ask and for which the code is the appropriate answer.",
        ),
        outputs=("the generated question in English",),
        judge=yes_no_judge(
            "judge whether the SQL query answers the question",
            "the question",
            "the SQL query",
            "the SQL query answers the question",
            "the SQL query does not answer the question",
        ),
        rule=rules.rule_text2sql,
        follows="text2sql_retrieval",
    ),
    Task(
        "sql_schema_linking",
        Category.TEXT2CODE,
        "Given a question in text, retrieve the descriptions of the database tables it needs.",
        Layout.GENERATED_QUERY,
        "sql",
        judge=yes_no_judge(
            "judge whether the table is needed to answer the question",
            "the question",
            "the table description",
            "the question needs the table",
            "the question does not need the table",
        ),
        rule=rules.rule_sql_schema_linking,  # rules only: the pairs come from gold SQL over a known schema
        follows="text2sql_retrieval",
    ),
    Task(
        "sql_from_explanation",
        Category.TEXT2CODE,
        "Given a textual explanation of what a query does, retrieve the SQL query that implements it.",
        Layout.GENERATED_QUERY,
        "sql",
        steps=("Given a piece of {code_language} code, generate a textual explanation in English of what the code does.",),
        outputs=("the generated explanation in English",),
        judge=yes_no_judge(
            "judge whether the SQL query implements the explanation",
            "the explanation",
            "the SQL query",
            "the SQL query implements the explanation",
            "the SQL query does not implement the explanation",
        ),
        rule=rules.rule_sql_from_explanation,
        follows="code_explanation_retrieval",
    ),
    Task(
        "sql_bug_description",
        Category.TEXT2CODE,
        "Given a description of a bug in a SQL query, retrieve the correct SQL query.",
        Layout.BUG_DESCRIPTION,
        "sql",
        steps=(
            "Given a piece of {code_language} code, modify one detail of the code to introduce a bug that changes its result.",
            "Given a piece of {code_language} code with a bug, generate a description in English of the bug and of the wrong result it causes.",
        ),
        outputs=("the modified code with one bug", "the generated bug description in English"),
        judge=yes_no_judge(
            "judge whether the SQL query is the correct version that the bug description asks for",
            "the bug description",
            "the SQL query",
            "the SQL query is free of the described bug",
            "the SQL query is not a fix for the described bug",
        ),
        rule=rules.rule_sql_bug_description,
        follows="bug_desc_retrieval",
    ),
    Task(
        "web_code_retrieval",
        Category.TEXT2CODE,
        "Given a web search query, retrieve relevant code that can help answer the query.",
        Layout.GENERATED_QUERY,
        "code",
        steps=("Given a piece of {code_language} code, generate a web search query in English that the code can help answer.",),
        outputs=("the generated web query in English",),
        judge=yes_no_judge(
            "judge whether the code can help answer the web search query",
            "the web search query",
            "the code",
            "the code can help answer the web search query",
            "the code cannot help answer the web search query",
        ),
        follows="web_code_retrieval",
    ),
    Task(
        "code_explanation",
        Category.TEXT2CODE,
        "Given a textual explanation of code functionality, retrieve the corresponding code implementation.",
        Layout.GENERATED_QUERY,
        "code",
        steps=("Given a piece of {code_language} code, generate a textual explanation in English of the code functionality.",),
        outputs=("the generated explanation in English",),
        judge=yes_no_judge(
            "judge whether the code implements the functionality described in the explanation",
            "the explanation",
            "the code",
            "the code implements the functionality described in the explanation",
            "the code does not implement the functionality described in the explanation",
        ),
        rule=rules.rule_code_explanation,
        follows="code_explanation_retrieval",
    ),
    Task(
        "bug_description",
        Category.TEXT2CODE,
        "Given a description of a software bug or unexpected behavior, retrieve relevant code that can help address the issue.",
        Layout.BUG_DESCRIPTION,
        "code",
        steps=(
            "Given a piece of {code_language} code, modify some details of the code to introduce one or more bugs.",
            "Given a piece of {code_language} code with one or more bugs, generate a description of the bugs in English.",
        ),
        outputs=("the modified code with one or more bugs", "the generated bug description in English"),
        judge=yes_no_judge(
            "judge whether the code can help address the described bug",
            "the bug description",
            "the code",
            "the code can help address the described bug",
            "the code cannot help address the described bug",
        ),
        follows="bug_desc_retrieval",
    ),
)
