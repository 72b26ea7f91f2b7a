"""Schema-grounded example synthesis: question → SQL examples for one user's database.

`introspect` reads a SQLite file's schema and samples its values (read-only, bounded);
`synthesize_examples` draws queries from a grammar of shapes over that schema, runs each
read-only, keeps the non-degenerate ones and words each at least two ways;
`synth.grounded.paraphrase.paraphrase_questions` adds judged LLM rewordings (imported on its
own: it loads langchain and the task registry).

Modules, each using only those before it: names (English for identifiers), schema
(introspection), build (AST helpers), conditions, phrasing, draw (random choices, labels),
shapes (one table), joined and membership (several tables), checks (degeneracy, result keys), synthesize.
"""

from rag.describe import introspect
from rag.schema import (
    Column,
    DatabaseSchema,
    ForeignKey,
    JoinPath,
    Table,
)
from synth.grounded.synthesize import (
    GroundedExample,
    SynthesisResult,
    SynthesisStats,
    synthesize_examples,
)

__all__ = [
    "Column",
    "DatabaseSchema",
    "ForeignKey",
    "GroundedExample",
    "JoinPath",
    "SynthesisResult",
    "SynthesisStats",
    "Table",
    "introspect",
    "synthesize_examples",
]
