"""One root exception with a few subclasses carrying structured fields.

The CLI turns any `CodeRagError` into a one-line message and a non-zero exit code
(`exit_code` below), never a traceback.
"""

from __future__ import annotations


class CodeRagError(Exception):
    """Root of every error coderag raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CodeRagError):
    """Invalid settings, CLI arguments or user input (question, paths)."""

    exit_code = 2


class DataError(CodeRagError):
    """A corpus, triplet or example file that is missing, malformed or empty."""

    exit_code = 3


class DatabaseError(CodeRagError):
    """A database file that is missing, not SQLite, corrupt, or whose schema does not load."""

    exit_code = 4


class IndexStoreError(CodeRagError):
    """A FAISS index directory that is missing, corrupt, or built with another embedder."""

    exit_code = 5


class ModelError(CodeRagError):
    """An embedder or LLM that cannot be loaded (missing file, not GGUF, offline hub)."""

    exit_code = 6


class SQLError(CodeRagError):
    """SQL that could not be extracted, parsed, validated or executed.

    `kind` is one of: generation_error, busy (the local model serves another request), no_sql, parse_error,
    not_select, forbidden, execution_error, timeout, too_large (over a size, depth or memory limit).
    """

    exit_code = 7

    def __init__(self, message: str, *, kind: str, sql: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.sql = sql
