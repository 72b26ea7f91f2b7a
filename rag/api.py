"""The Python API: open a database by name, path or URL, ask it questions, run read-only SQL, teach it.

    >>> import rag.api as coderag
    >>> with coderag.open("bookshop") as db:          # doctest: +SKIP
    ...     answer = db.ask("How many customers are there?")
    ...     answer.rows, db.sql("SELECT count(*) AS n FROM books").rows
    ([[...]], [[...]])

This is the one composition root above `TextToSQL.from_settings` that the command line, the UI and
the MCP server (ui.mcpserver) share: a `Coderag` loads the models once (lazily, at the first
question) and opens any number of databases; `open` is the short form for one database. Results are
plain dataclasses (`to_pandas()` where pandas is installed, `to_dict()` for JSON). Errors are
`CodeRagError`s with a one-line message (rag.errors); an answer that could not be given is an
`AskResult` whose `error` says why (`raise_for_error()` raises it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rag.answer import Answer, Question
from rag.chain import TextToSQL
from rag.corpus import demo_names, load_demo_examples
from rag.databases import Database, DatabaseRef, resolve_db
from rag.errors import ConfigError, DatabaseError, SQLError
from rag.registry import ExampleStore, Registry, StoredExample
from rag.sandbox import QueryResult
from rag.settings import Settings, load_settings
from rag.sqltools import validate_user_sql

__all__ = [
    "AskResult", "Coderag", "ColumnInfo", "Connection", "DatabaseInfo", "Description", "Example", "ForeignKey", "SqlResult",
    "TableInfo", "TaughtExample", "open",
]  # fmt: skip


def _frame(columns: list[str], rows: list[list[Any]]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("to_pandas() needs pandas", hint="pip install pandas") from None
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class SqlResult:
    """Rows of one read-only query: `truncated` says the row cap cut them."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    elapsed_ms: float = 0.0

    @classmethod
    def of(cls, result: QueryResult) -> SqlResult:
        return cls(list(result.columns), [list(r) for r in result.rows], result.truncated, round(result.elapsed_ms, 2))

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (pandas must be installed)."""
        return _frame(self.columns, self.rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Example:
    """A stored question → SQL example that the answer was built from."""

    id: str
    question: str
    sql: str
    score: float
    db: str


@dataclass(frozen=True)
class AskResult:
    """The answer to one question: the SQL, its rows, the examples it came from and how sure it is.

    `error` is set (and `error_kind`: abstain, no_sql, parse_error, forbidden, timeout, ...) when no
    answer could be given; `sql` may then still hold the closest example's SQL, not run."""

    question: str
    db: str
    sql: str | None
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    generator: str
    examples: list[Example]
    confidence: float | None = None  # knn only: how likely the reused example answers the question (rag.abstain)
    adapted: dict[str, Any] | None = None  # knn: which example's SQL was fitted to the question, and how
    link: dict[str, Any] | None = None  # the tables, columns, values and joins the question named (rag.linking)
    composed: dict[str, Any] | None = None  # knn: the SQL composed from the link, when it answered (rag.compose)
    notice: str | None = None
    error: str | None = None
    error_kind: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, answer: Answer, notices: list[str | None]) -> AskResult:
        examples = [Example(r.id, r.question, r.sql, r.score, r.db) for r in answer.retrieved]
        notice = " ".join(n for n in notices if n) or None
        return cls(
            question=answer.question, db=answer.db, sql=answer.sql, columns=list(answer.columns), rows=[list(r) for r in answer.rows],
            truncated=answer.truncated, generator=answer.generator, examples=examples,
            confidence=None if answer.confidence is None else round(answer.confidence, 4), adapted=answer.adapted,
            link=answer.link, composed=answer.composed, notice=notice,
            error=answer.error, error_kind=answer.error_kind, timings_ms={k: round(v, 2) for k, v in answer.timings_ms.items()},
        )  # fmt: skip

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> AskResult:
        """This result, or the SQLError that kept it from being answered."""
        if self.error is not None:
            raise SQLError(self.error, kind=self.error_kind or "execution_error", sql=self.sql)
        return self

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame; an unanswered question raises its error instead."""
        self.raise_for_error()
        return _frame(self.columns, self.rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaughtExample:
    """An example `teach` checked and stored; `new` is False when it was stored already."""

    id: str
    db: str
    question: str
    sql: str
    new: bool


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    primary_key: bool = False


@dataclass(frozen=True)
class ForeignKey:
    columns: list[str]
    references_table: str
    references_columns: list[str]


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    foreign_keys: list[ForeignKey] = field(default_factory=list)


@dataclass(frozen=True)
class Description:
    """A database's tables, columns and keys, read from its schema (`schema_sql`: the CREATE statements)."""

    name: str
    dialect: str
    tables: list[TableInfo]
    schema_sql: str
    examples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DatabaseInfo:
    """A database `open` finds by name: a demo one or a registered one."""

    name: str
    kind: str  # demo | registered
    location: str  # the file, or the URL without its password
    tables: int | None
    examples: int


class Coderag:
    """The loaded models (embedder, index, generator: `TextToSQL.from_settings`), shared by every
    database opened through it. The models load at the first question, not before.

    `settings`: a `Settings`, else YAML + environment (rag.settings) with `overrides` on top, e.g.
    `Coderag(generator="knn", execution={"timeout_s": 2})`."""

    def __init__(self, settings: Settings | None = None, *, show_progress: bool = False, **overrides: Any) -> None:
        if settings is not None and overrides:
            raise ConfigError("pass settings or overrides, not both")
        self.settings = settings if settings is not None else load_settings(**overrides)
        self.show_progress = show_progress
        self._service: TextToSQL | None = None
        self._lock = threading.Lock()  # one service load, and index swaps after a teach
        self._closed = False

    @property
    def service(self) -> TextToSQL:
        """The question → answer service, loaded on first use."""
        with self._lock:
            if self._closed:
                raise ConfigError("this coderag instance is closed")
            if self._service is None:
                self._service = TextToSQL.from_settings(self.settings, show_progress=self.show_progress)
            return self._service

    @property
    def notice(self) -> str | None:
        """What the user should know about the generator (e.g. no LLM is configured); None before it loads."""
        return self._service.notice if self._service is not None else None

    def open(self, target: str | Path | None = None) -> Connection:
        """A database by demo name, registered name, SQLite path or URL (default: `settings.default_db`).
        A missing file, a bad URL or a server that does not answer fails here, in one line."""
        ref = resolve_db(str(target) if target is not None else self.settings.default_db, self.settings.home)
        return Connection(self, ref)

    def databases(self) -> list[DatabaseInfo]:
        """The demo databases, then the registered ones (what `open` finds by name)."""
        store = ExampleStore(self.settings.home)
        found = [
            DatabaseInfo(name, "demo", "(built in)", None, len(load_demo_examples(name)) + len(store.load(name))) for name in demo_names()
        ]
        for registration in Registry(self.settings.home).all():
            found.append(
                DatabaseInfo(registration.name, "registered", registration.path, registration.tables, len(store.load(registration.name)))
            )
        return found

    def reload_index(self) -> None:
        """Bring the loaded index up to date with every store (only changed examples are embedded)."""
        with self._lock:
            if self._service is None:
                return  # loaded fresh at the first question
            from rag.index import get_index

            index = get_index(self.settings, self._service.encoder, "default", show_progress=False)
            self._service = self._service.with_index(index)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._service is not None:
                self._service.close()
                self._service = None

    def __enter__(self) -> Coderag:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Connection:
    """One database: `ask`, `sql`, `teach`, `describe`. The database is opened read-only for each
    call (so a handle may be shared between threads); `close()` ends the handle, and the models too
    when `open` loaded them for it alone."""

    def __init__(self, owner: Coderag, ref: DatabaseRef, *, owns: bool = False) -> None:
        self._owner = owner
        self.ref = ref
        self._owns = owns
        self._closed = False

    @property
    def name(self) -> str:
        """The name of the database's example store: its registered or demo name, else `schema-<fingerprint>`."""
        return self.ref.key

    @property
    def dialect(self) -> str:
        return self.ref.dialect

    @property
    def settings(self) -> Settings:
        return self._owner.settings

    def __repr__(self) -> str:
        return f"<coderag.Connection {self.ref.label or self.ref.key} ({self.dialect})>"

    def ask(self, question: str, *, k: int | None = None, execute: bool = True, force: bool = False) -> AskResult:
        """Answer a question in English: retrieved examples → SQL → rows (read-only, the configured
        limits). knn abstains when no stored example fits well unless `force`; see `AskResult.error`."""
        self._check_open()
        checked = Question.parse(question, self.settings.max_question_chars)  # before any model loads
        service = self._owner.service
        with self.ref.open(self.settings) as database:
            answer = service.ask(checked, database, db_key=self.ref.key, k=k, execute=execute, force=force)
        return AskResult.of(answer, [self.ref.note, service.notice, answer.notice])

    def sql(self, query: str, *, max_rows: int | None = None) -> SqlResult:
        """Run one read-only query (writes, ATTACH, PRAGMA writes, COPY and SET are refused) within the
        configured time limit and row cap (`max_rows` may lower the cap)."""
        self._check_open()
        execution = self.settings.execution
        cap = execution.max_rows if max_rows is None else max(1, min(int(max_rows), execution.max_rows))
        started = time.monotonic()  # one time limit covers parsing, running and fetching
        statement = validate_user_sql(query, max_chars=execution.max_sql_chars, dialect=self.dialect)
        with self.ref.open(self.settings) as database:
            return SqlResult.of(database.execute(statement, started=started, max_rows=cap))

    def teach(self, question: str, sql: str, *, author: str | None = None) -> TaughtExample:
        """Store a question → SQL example for this database, checked as `coderag db teach` checks it
        (the question's size; one read-only statement that runs), and make it retrievable at once.
        `author` is kept with it (the login that taught it)."""
        self._check_open()
        stored = check_example(question, sql, self.ref, self.settings, author=author)
        added = ExampleStore(self.settings.home).add(self.ref.key, [stored])
        if added:
            self._owner.reload_index()
        return TaughtExample(stored.id, self.ref.key, stored.question, stored.sql, new=bool(added))

    def describe(self) -> Description:
        """The tables, columns and keys (from the schema's CREATE statements) and how many examples are stored."""
        self._check_open()
        with self.ref.open(self.settings) as database:
            schema, names = database.schema_sql(), database.table_names()
        tables = parse_schema(schema, self.dialect)
        by_name = {t.name: t for t in tables}
        described = [by_name.get(name, TableInfo(name, [])) for name in names]
        examples = len(ExampleStore(self.settings.home).load(self.ref.key))
        if self.ref.kind == "demo":
            examples += len(load_demo_examples(self.ref.key))
        return Description(self.ref.label or self.ref.key, self.dialect, described, schema, examples)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owns:
                self._owner.close()

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError("this database handle is closed")

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open(target: str | Path | None = None, settings: Settings | None = None, **overrides: Any) -> Connection:  # noqa: A001 (the API's verb)
    """Open one database by demo name, registered name, SQLite path or URL; the models load at its
    first question and are released by `close()` (or the `with` block).

    >>> db = open("no/such/file.sqlite")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rag.errors.DatabaseError: database not found: no/such/file.sqlite (use a SQLite file path or a database name: ...)
    """
    owner = Coderag(settings, **overrides)
    try:
        return Connection(owner, owner.open(target).ref, owns=True)
    except BaseException:
        owner.close()
        raise


def check_example(
    question: str,
    sql: str,
    ref: DatabaseRef,
    settings: Settings,
    *,
    author: str | None = None,
    origin: str = "person",
    database: Database | None = None,
) -> StoredExample:
    """The one check of a taught example (`coderag db teach`, the UI's save and add, `Connection.teach`,
    the MCP server's teach_example): the question's size, one read-only statement in the database's
    dialect, and it runs (one row fetched). `database` is `ref` already open, to check many rows on one
    connection; without it `ref` is opened for this check."""
    text = Question.parse(question, settings.max_question_chars).text
    statement = validate_user_sql(sql, max_chars=settings.execution.max_sql_chars, dialect=ref.dialect)
    if database is not None:
        database.execute(statement, max_rows=1)
    else:
        with ref.open(settings) as opened:
            opened.execute(statement, max_rows=1)
    return StoredExample.make(ref.key, text, statement, origin, meta={"author": author} if author else None)  # type: ignore[arg-type]


def parse_schema(schema_sql: str, dialect: str = "sqlite") -> list[TableInfo]:
    """Tables, columns, primary and foreign keys from CREATE TABLE statements (views: their name only).

    >>> [t.name for t in parse_schema("CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INT REFERENCES b(id)); CREATE TABLE b (id INT, PRIMARY KEY (id))")]
    ['a', 'b']
    >>> parse_schema("CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INT REFERENCES b(id))")[0].foreign_keys
    [ForeignKey(columns=['b_id'], references_table='b', references_columns=['id'])]
    """
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(schema_sql, read=dialect)
    except sqlglot.errors.ParseError:
        return []
    tables = []
    for statement in statements:
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Table):
                tables.append(TableInfo(statement.this.name, []))
            continue
        schema = statement.this
        keys: set[str] = set()
        foreign: list[ForeignKey] = []
        for item in schema.expressions:
            if isinstance(item, exp.PrimaryKey):
                keys |= {e.name for e in item.expressions}
            elif isinstance(item, exp.ForeignKey):
                foreign.append(_foreign_key([e.name for e in item.expressions], item.args.get("reference")))
        columns = []
        for item in schema.expressions:
            if not isinstance(item, exp.ColumnDef):
                continue
            constraints = [c.args.get("kind") for c in item.args.get("constraints") or []]
            if any(isinstance(c, exp.PrimaryKeyColumnConstraint) for c in constraints):
                keys.add(item.name)
            for reference in (c for c in constraints if isinstance(c, exp.Reference)):
                foreign.append(_foreign_key([item.name], reference))
            kind = item.args.get("kind")
            columns.append(ColumnInfo(item.name, kind.sql(dialect=dialect) if kind is not None else "", False))
        columns = [ColumnInfo(c.name, c.type, c.name in keys) for c in columns]
        tables.append(TableInfo(schema.this.name, columns, foreign))
    return tables


def _foreign_key(columns: list[str], reference: Any) -> ForeignKey:
    from sqlglot import exp

    target = reference.this if reference is not None else None
    if isinstance(target, exp.Schema):
        return ForeignKey(columns, target.this.name, [e.name for e in target.expressions])
    return ForeignKey(columns, target.name if target is not None else "", [])
