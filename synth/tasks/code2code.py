"""The code2code tasks: a piece of code retrieves equivalent code (another dialect or language, a rewrite) or its continuation."""

from __future__ import annotations

from synth import rules
from synth.task import Category, Layout, Target, Task, yes_no_judge

CODE2CODE: tuple[Task, ...] = (
    Task(
        "sql_translation",
        Category.CODE2CODE,
        "Given a SQLite query, retrieve the query in another SQL dialect that is semantically equivalent to it.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=("Given a piece of {code_language} code, translate it into {tgt_language} SQL that is semantically equivalent.",),
        outputs=("the generated piece of {tgt_language} SQL",),
        judge=yes_no_judge(
            "judge whether the output SQL is semantically equivalent to the input SQL",
            "the input SQL",
            "the output SQL",
            "the output SQL is semantically equivalent to the input SQL",
            "the output SQL is not semantically equivalent to the input SQL",
        ),
        target=Target.SQL_DIALECT,
        rule=rules.rule_sql_translation,
        follows="code_translation_retrieval",
    ),
    Task(
        "sql_rewrite",
        Category.CODE2CODE,
        "Given a SQL query, retrieve a differently written SQL query that returns the same result.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=(
            "Given a piece of {code_language} code, rewrite it into a differently written {code_language} query that returns exactly the same result.",
        ),
        outputs=("the generated piece of {code_language} code",),
        judge=yes_no_judge(
            "judge whether the output SQL returns the same result as the input SQL",
            "the input SQL",
            "the output SQL",
            "the output SQL is semantically equivalent to the input SQL",
            "the output SQL is not semantically equivalent to the input SQL",
        ),
        rule=rules.rule_sql_rewrite,
        follows="similar_code_retrieval",
    ),
    Task(
        "code_context",
        Category.CODE2CODE,
        "Given a piece of code segment, retrieve the code segment that is the latter part of the code.",
        Layout.CONTEXT_SPLIT,
        "any",
        rule=rules.rule_code_context,
        follows="code_context_retrieval",
    ),
    Task(
        "code_translation",
        Category.CODE2CODE,
        "Given a piece of {code_language} code, retrieve {tgt_language} code that is semantically equivalent to the input code.",
        Layout.GENERATED_POSITIVE,
        "code",
        steps=(
            "Given a piece of {code_language} code, generate a piece of {tgt_language} code that is semantically equivalent to the input code.",
        ),
        outputs=("the generated piece of {tgt_language} code",),
        judge=yes_no_judge(
            "judge whether the output code is semantically equivalent to the input code",
            "the input code",
            "the output code",
            "the output code is semantically equivalent to the input code",
            "the output code is not semantically equivalent to the input code",
        ),
        target=Target.CODE_LANGUAGE,
        follows="code_translation_retrieval",
    ),
)
