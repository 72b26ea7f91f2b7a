"""What the rules learn about one snippet, computed on first use and shared by its tasks.

Randomness comes from `random.Random(f"{seed}:{purpose}:{origin}")`, so a snippet's triplets do
not depend on which other snippets or tasks are in the run.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from functools import cached_property

from rag.execution import DatabaseCache
from synth.sources import Snippet
from synth.sql.bugs import find_bugs
from synth.sql.context import Change, ExampleDatabase, SqlContext
from synth.sql.dialects import find_translations
from synth.sql.edits import find_edits
from synth.sql.rewrites import find_rewrites
from synth.sql.syntax import Query, Schema, parse_query, parse_schema


class SnippetFacts:
    """A snippet and the seed its random choices derive from (what rules for any code need)."""

    def __init__(self, snippet: Snippet, seed: int) -> None:
        self.snippet = snippet
        self.seed = seed

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{purpose}:{self.snippet.origin}")


class SqlFacts(SnippetFacts):
    """A SQL snippet parsed once, with its schema, its database and every transformation family's
    findings; `query` is None when the SQL does not parse. `schemas` (context hash → schema) is
    shared by the snippets of one run, which often share a database script."""

    def __init__(self, snippet: Snippet, seed: int, databases: DatabaseCache | None, schemas: dict[str, Schema]) -> None:
        super().__init__(snippet, seed)
        self.database = ExampleDatabase.of(databases, snippet.context, snippet.db_path)
        self._schemas = schemas
        tree = parse_query(snippet.text)
        self.query = Query.of(tree) if tree is not None else None
        self._rewritten: dict = {}  # rewrite name → rewritten tree, shared by the rewrite and refactor tasks

    @property
    def sql(self) -> str:
        return self.snippet.text

    @property
    def parsed(self) -> Query:
        """The parsed query: rules see only facts whose SQL parses (`synth.rules.generate_for_snippet`)."""
        assert self.query is not None, "the SQL does not parse"
        return self.query

    @property
    def canonical(self) -> str:
        """The query as sqlglot writes it: used wherever variants (also sqlglot-written) stand next
        to it, so formatting (`AS`, keyword case) cannot tell them apart."""
        return self.parsed.sql

    @cached_property
    def schema(self) -> Schema:
        key = hashlib.md5(self.snippet.context.encode()).hexdigest()
        if key not in self._schemas:
            self._schemas[key] = parse_schema(self.snippet.context) if self.snippet.context else {}
        return self._schemas[key]

    def context(self, purpose: str, query: Query | None = None) -> SqlContext:
        """What a transformation family works with, its randomness drawn for `purpose`."""
        base = SqlContext(self.parsed, self.schema, self.database, self.rng(purpose))
        return base if query is None else replace(base, query=query)

    @cached_property
    def bugs(self) -> tuple[list[Change], bool]:
        return find_bugs(self.context("bugs"), limit=2)

    @cached_property
    def edits(self) -> list[Change]:
        return find_edits(self.context("edits"), limit=1)

    @cached_property
    def rewrites(self) -> tuple[list[Change], bool]:
        return find_rewrites(self.context("rewrites"), limit=1, memo=self._rewritten)

    @cached_property
    def refactors(self) -> tuple[list[Change], bool]:
        return find_rewrites(self.context("refactors"), limit=1, refactor_only=True, memo=self._rewritten)

    @cached_property
    def translations(self) -> dict[str, str]:
        return find_translations(self.parsed, self.rng("dialects"), limit=2)

    @cached_property
    def can_run(self) -> bool:
        """Whether the query runs on its own database, so changes to it can be checked by execution."""
        return self.database is not None and self.database.run(self.sql) is not None

    def check(self, verified: bool) -> str:
        return "executed" if verified else "parsed"
