"""The task registry: four categories of retrieval tasks, each carrying its rule and LLM plan.

Each entry is a `synth.task.Task`: what the embedder retrieves, how a pair is laid out, the rule
that makes a triplet offline (`synth.rules`), and the LLM generator's steps, answer language and
judge. This tuple is the one place a task is defined.

The categories and most task types follow BGE-Coder's TripletGenerator (FlagEmbedding,
research/BGE_Coder/data_generation); the `sql_*` tasks are the ones the text-to-SQL RAG needs.

>>> get_task("text2sql").category.value
'text2code'
>>> sorted({t.category.value for t in TASKS.values()})
['code2code', 'code2text', 'hybrid', 'text2code']
"""

from __future__ import annotations

from rag.errors import ConfigError
from synth import rules
from synth.task import Category, Judge, Layout, Target, Task


def _judge(mission: str, query_type: str, doc_type: str, claim: str, negated: str) -> Judge:
    return Judge(mission, query_type, doc_type, f"Yes, {claim}.", f"No, {negated}.")


_TASK_LIST: tuple[Task, ...] = (
    # --- text2code -------------------------------------------------------------------------
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
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
            "judge whether the code can help address the described bug",
            "the bug description",
            "the code",
            "the code can help address the described bug",
            "the code cannot help address the described bug",
        ),
        follows="bug_desc_retrieval",
    ),
    # --- code2text -------------------------------------------------------------------------
    Task(
        "sql_explanation",
        Category.CODE2TEXT,
        "Given a SQL query, retrieve the explanation of what it does.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=("Given a piece of {code_language} code, generate a short explanation in English of what the code computes and how.",),
        outputs=("the generated explanation in English",),
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
            "judge whether the text summarizes the code",
            "the code",
            "the text",
            "the text summarizes the code",
            "the text does not summarize the code",
        ),
        rule=rules.rule_code_summary,
        follows="code_summary_retrieval",
    ),
    # --- code2code -------------------------------------------------------------------------
    Task(
        "sql_translation",
        Category.CODE2CODE,
        "Given a SQLite query, retrieve the query in another SQL dialect that is semantically equivalent to it.",
        Layout.GENERATED_POSITIVE,
        "sql",
        steps=("Given a piece of {code_language} code, translate it into {tgt_language} SQL that is semantically equivalent.",),
        outputs=("the generated piece of {tgt_language} SQL",),
        judge=_judge(
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
        judge=_judge(
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
        judge=_judge(
            "judge whether the output code is semantically equivalent to the input code",
            "the input code",
            "the output code",
            "the output code is semantically equivalent to the input code",
            "the output code is not semantically equivalent to the input code",
        ),
        target=Target.CODE_LANGUAGE,
        follows="code_translation_retrieval",
    ),
    # --- hybrid ----------------------------------------------------------------------------
    Task(
        "sql_modification",
        Category.HYBRID,
        "Given a SQL query and an instruction for changing it, retrieve the SQL query that implements the change.",
        Layout.INSTRUCT_THEN_CODE,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate one specific instruction in English for changing what the query returns (for example another filter, sort order, limit, column or aggregate).",
            "Given a piece of {code_language} code and an instruction for changing it, generate the changed {code_language} code that implements the instruction.",
        ),
        outputs=("the generated instruction in English", "the generated piece of {code_language} code"),
        judge=_judge(
            "judge whether the output SQL implements the requested change",
            "the query",
            "the output SQL",
            "the output SQL implements the requested change",
            "the output SQL does not implement the requested change",
        ),
        rule=rules.rule_sql_modification,
        follows="code_modification_retrieval",
    ),
    Task(
        "sql_bug_fix",
        Category.HYBRID,
        "Given a SQL query with a bug and a description of the wrong result, retrieve the corrected SQL query.",
        Layout.BUG_FIX,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate a buggy version of the code followed by one sentence in English describing the wrong result it gives.",
        ),
        outputs=("the buggy code and the one-sentence description",),
        judge=_judge(
            "judge whether the output SQL fixes the bug described in the query",
            "the query",
            "the output SQL",
            "the output SQL fixes the bug described in the query",
            "the output SQL does not fix the bug described in the query",
        ),
        rule=rules.rule_sql_bug_fix,
        follows="code_bug_fix_example_retrieval",
    ),
    Task(
        "sql_refactor",
        Category.HYBRID,
        "Given a SQL query and a refactoring goal, retrieve the refactored SQL query that returns the same result.",
        Layout.INSTRUCT_THEN_CODE,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate a description in English of a refactoring goal for it (for example a CTE instead of a subquery, explicit joins, qualified columns).",
            "Given a piece of {code_language} code and a refactoring goal, generate the refactored {code_language} code that returns the same result.",
        ),
        outputs=("the generated refactoring goal in English", "the generated piece of {code_language} code"),
        judge=_judge(
            "judge whether the output SQL is the refactoring described in the query",
            "the query",
            "the output SQL",
            "the output SQL applies the refactoring and keeps the result",
            "the output SQL does not apply the refactoring or changes the result",
        ),
        rule=rules.rule_sql_refactor,
        follows="code_refactoring_pattern_retrieval",
    ),
    Task(
        "sql_migration",
        Category.HYBRID,
        "Given a SQL query and a migration requirement, retrieve the SQL query migrated to meet it.",
        Layout.INSTRUCT_THEN_CODE,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate a specific migration requirement in English (for example moving it to another database engine).",
            "Given a piece of {code_language} code and a migration requirement, generate the migrated SQL that meets the requirement.",
        ),
        outputs=("the generated migration requirement in English", "the generated piece of SQL"),
        judge=_judge(
            "judge whether the output SQL meets the migration requirement",
            "the query",
            "the output SQL",
            "the output SQL meets the migration requirement",
            "the output SQL does not meet the migration requirement",
        ),
        target=Target.ANY_DIALECT,
        rule=rules.rule_sql_migration,
        follows="code_migration_retrieval",
    ),
    Task(
        "sql_style",
        Category.HYBRID,
        "Given a SQL query and a style guideline, retrieve the same query written in that style.",
        Layout.INSTRUCT_THEN_CODE,
        "sql",
        steps=(
            "Given a piece of {code_language} code, generate a query in English describing a coding style to apply to it (layout, keyword case, aliases).",
            "Given a piece of {code_language} code and a style guideline, generate the same {code_language} code written in that style.",
        ),
        outputs=("the generated style guideline in English", "the generated piece of {code_language} code"),
        judge=_judge(
            "judge whether the output SQL follows the style in the query and keeps its meaning",
            "the query",
            "the output SQL",
            "the output SQL follows the style and keeps the meaning",
            "the output SQL does not follow the style or changes the meaning",
        ),
        rule=rules.rule_sql_style,
        follows="code_style_guideline_example_retrieval",
    ),
    Task(
        "sql_comparison",
        Category.HYBRID,
        "Given two SQL queries and a question about their differences, retrieve the answer that explains them.",
        Layout.COMPARISON,
        "sql",
        steps=(
            "Given a piece of input code and a piece of output code, generate a question in English about their differences or similarities.",
            "Given a piece of input code and a piece of output code, and a question in English about their differences or similarities, generate a response that answers the question.",
        ),
        outputs=("the generated question in English", "the generated response in English"),
        judge=_judge(
            "judge whether the response answers the question in the query",
            "the query",
            "the response",
            "the response answers the question",
            "the response does not answer the question",
        ),
        rule=rules.rule_sql_comparison,
        follows="code_comparison_retrieval",
    ),
    Task(
        "code_modification",
        Category.HYBRID,
        "Given a code snippet and a natural language description of desired modifications, retrieve relevant code that implements the requested modifications.",
        Layout.MODIFICATION,
        "code",
        steps=(
            "Given a piece of input code and a piece of output code, generate the differences in English between the input code and output code.",
            "Given the differences in English between a piece of input code and a piece of output code, generate a code modification instruction in English that uses only the information from the differences to transform the input code into the output code.",
        ),
        outputs=("the generated differences in English", "the generated modification instruction in English"),
        judge=_judge(
            "judge whether the output code implements the requested modification described in the query",
            "the query",
            "the output code",
            "the output code implements the requested modification described in the query",
            "the output code does not implement the requested modification described in the query",
        ),
        follows="code_modification_retrieval",
    ),
    Task(
        "code_comparison",
        Category.HYBRID,
        "Given two code snippets and a natural language query about their differences or similarities, retrieve relevant document that explains the differences or similarities between the two code snippets.",
        Layout.COMPARISON,
        "code",
        steps=(
            "Given a piece of input code and a piece of output code, generate a question in English about their differences or similarities.",
            "Given a piece of input code and a piece of output code, and a natural language question in English about their differences or similarities, generate a response that answer the question.",
        ),
        outputs=("the generated question in English", "the generated response in English"),
        judge=_judge(
            "judge whether the response can answer the question described in the query",
            "the query",
            "the response",
            "the response can answer the question described in the query",
            "the response cannot answer the question described in the query",
        ),
        follows="code_comparison_retrieval",
    ),
    Task(
        "code_refactoring",
        Category.HYBRID,
        "Given a code snippet that could be improved and a natural language description of desired refactoring goals or patterns, retrieve code snippets that exemplify similar refactoring techniques or patterns.",
        Layout.INSTRUCT_THEN_CODE,
        "code",
        steps=(
            "Given a piece of {code_language} code, generate a description of the desired refactoring goals or patterns in English.",
            "Given a piece of {code_language} code and a natural language description of the desired refactoring goals or patterns, generate a piece of {code_language} code that exemplifies similar refactoring techniques or patterns.",
        ),
        outputs=(
            "the generated description of the desired refactoring goals or patterns in English",
            "the generated piece of {code_language} code",
        ),
        judge=_judge(
            "judge whether the output code exemplifies similar refactoring techniques or patterns described in the query",
            "the query",
            "the output code",
            "the output code exemplifies similar refactoring techniques or patterns described in the query",
            "the output code does not exemplify similar refactoring techniques or patterns described in the query",
        ),
        follows="code_refactoring_pattern_retrieval",
    ),
    Task(
        "code_style",
        Category.HYBRID,
        "Given a code snippet and a natural language query describing a desired coding style or best practice, retrieve code snippets that adhere to the specified style guidelines or best practices.",
        Layout.INSTRUCT_THEN_CODE,
        "code",
        steps=(
            "Given a piece of {code_language} code, generate a query describing a desired coding style or best practice to improve it in English.",
            "Given a piece of {code_language} code and a natural language query describing the desired style guidelines or best practices, generate a piece of {code_language} code that adheres to the specified style guidelines or best practices.",
        ),
        outputs=(
            "the generated query describing a desired coding style or best practice in English",
            "the generated piece of {code_language} code",
        ),
        judge=_judge(
            "judge whether the output code adheres to the specified style guidelines or best practices described in the query",
            "the query",
            "the output code",
            "the output code adheres to the specified style guidelines or best practices described in the query",
            "the output code does not adhere to the specified style guidelines or best practices described in the query",
        ),
        follows="code_style_guideline_example_retrieval",
    ),
    Task(
        "code_migration",
        Category.HYBRID,
        "Given a code snippet and a natural language description of a specific migration requirement, retrieve code snippets that demonstrate how to migrate the code to meet the requirement.",
        Layout.INSTRUCT_THEN_CODE,
        "code",
        steps=(
            "Given a piece of {code_language} code, generate a specific migration requirement in English based on the code.",
            "Given a piece of {code_language} code and a natural language description of a specific migration requirement, generate a piece of {code_language} code that meets the migration requirement.",
        ),
        outputs=(
            "the generated specific migration requirement in English based on the code",
            "the generated piece of {code_language} code",
        ),
        judge=_judge(
            "judge whether the output code meets the migration requirement described in the query",
            "the query",
            "the output code",
            "the output code meets the migration requirement described in the query",
            "the output code does not meet the migration requirement described in the query",
        ),
        follows="code_migration_retrieval",
    ),
)

TASKS: dict[str, Task] = {task.name: task for task in _TASK_LIST}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown synthesis task '{name}' (known: {', '.join(TASKS)})") from None


def select_tasks(names: list[str] | None) -> list[Task]:
    """Tasks by name or category name ('hybrid' means every hybrid task); None means all of them."""
    if not names:
        return list(TASKS.values())
    chosen: dict[str, Task] = {}
    for raw in names:
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            if name in {c.value for c in Category}:
                chosen.update({t.name: t for t in TASKS.values() if t.category.value == name})
            else:
                task = get_task(name)
                chosen[task.name] = task
    if not chosen:
        raise ConfigError("no synthesis tasks selected")
    return [t for t in TASKS.values() if t.name in chosen]  # registry order, whatever order they were named in
