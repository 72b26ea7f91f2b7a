"""What every transformation family takes (`SqlContext`) and gives (`Change`), and how it runs SQL.

A context carries one query and what a family may consult: the example's schema, its database
and a seeded random generator. The database is the example's own (a gretel script or a SQLite
file) seen through `rag.execution`: one `DatabaseCache` builds it once (transpiling DDL that
SQLite rejects) and remembers query results, and `results_match` there is the one definition
of "the same result" that eval's EX uses too. With a database, a bug is kept only when it
changes the result and a rewrite only when it does not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlglot import exp

from rag.errors import DatabaseError, SQLError
from rag.execution import DatabaseCache, DatabaseSource
from rag.sandbox import QueryResult
from synth.sql.syntax import Query, Schema


@dataclass
class Change:
    """A changed query and the words that describe the change.

    `bug` completes "the query …" (what is wrong), `diff` completes "the second query …",
    `instruction` asks for the change, `contrast` is a near-miss SQL (a hard negative).
    """

    kind: str
    sql: str
    bug: str = ""
    diff: str = ""
    instruction: str = ""
    contrast: str = ""
    contrast_diff: str = ""
    changes_result: bool | None = None
    tree: exp.Expression | None = field(default=None, repr=False, compare=False)


def database_cache() -> DatabaseCache:
    """The cache one synthesis worker runs its checks with: short limits (rule checks compare
    small results), 64 open databases and 4,096 remembered results."""
    return DatabaseCache(timeout_s=2.0, max_rows=500, capacity=64, result_capacity=4096)


@dataclass(frozen=True)
class ExampleDatabase:
    """One example's database, run through a shared `DatabaseCache`."""

    cache: DatabaseCache
    source: DatabaseSource

    @classmethod
    def of(cls, cache: DatabaseCache | None, context: str, db_path: str | None) -> ExampleDatabase | None:
        """The database of an example, or None without a cache or without a database: neither a
        SQLite file nor a script that creates something (a bare question has nothing to run on)."""
        if cache is None:
            return None
        if db_path:
            return cls(cache, DatabaseSource(path=db_path))
        if context and "CREATE" in context.upper():
            return cls(cache, DatabaseSource(context=context))
        return None

    def run(self, sql: str) -> QueryResult | None:
        """The query's rows, or None when the database does not load or the query fails."""
        try:
            return self.cache.run(self.source, sql)
        except (DatabaseError, SQLError):
            return None

    def same_result(self, gold_sql: str, pred_sql: str, *, ordered: bool | None = None) -> bool | None:
        """True/False when both queries run (`rag.execution.results_match`); None otherwise."""
        return self.cache.same_result(self.source, gold_sql, pred_sql, ordered=ordered)


@dataclass(frozen=True)
class SqlContext:
    """One query and what the transformation families may consult about it."""

    query: Query
    schema: Schema
    database: ExampleDatabase | None
    rng: random.Random

    @property
    def tree(self) -> exp.Expression:
        return self.query.tree

    @property
    def base(self) -> QueryResult | None:
        """The query's own rows (None without a database or when it fails there); remembered by the cache."""
        return self.database.run(self.query.sql) if self.database is not None else None

    @property
    def can_run(self) -> bool:
        """Whether changes to the query can be checked by execution."""
        return self.base is not None

    def same_result(self, sql: str) -> bool | None:
        """Whether `sql` returns the query's rows (in its order when it has a top-level ORDER BY)."""
        if self.database is None:
            return None
        return self.database.same_result(self.query.sql, sql, ordered=self.query.ordered)

    def equivalent(self, sql: str) -> bool | None:
        """Like `same_result`, except that with ORDER BY and no LIMIT rows tied on the sort key may
        come back in another order (a rewrite cannot promise the order of ties)."""
        same = self.same_result(sql)
        if same is False and self.database is not None and self.query.ordered and not self.tree.args.get("limit"):
            return self.database.same_result(self.query.sql, sql, ordered=False)
        return same
