"""SQL transformations for rule-based synthesis, all through sqlglot's AST (SQLite dialect).

One module per idea, each importing only those above it in this list:

- `syntax`: parsing, rendering and small AST helpers (`Query`, `parse_query`, `render`, `parse_schema`);
- `wording`: describing expressions and conditions in words;
- `context`: what every family takes (`SqlContext`: the query, its schema, its database, a
  seeded random generator) and gives (`Change`: the changed SQL and the texts that describe it);
  results are compared through `rag.execution`, the one definition of "the same result";
- `bugs`: injected bugs, kept only when they change the result;
- `edits`: instruction-driven modifications, each with a near-miss contrast;
- `rewrites`: equivalent forms, kept only when they return the same rows;
- `dialects`: other SQL dialects and layouts of the same query.
"""
