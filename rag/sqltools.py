"""SQL post-processing: extract → parse → validate, as an ordered tuple of small pure steps.

A model's answer may wrap the query in code fences, prefix it with "SQLQuery:", surround it with
prose, or give several statements. `postprocess` returns the first SELECT statement it finds
(parsed in the database's dialect: SQLite by default; postgres, mysql or duckdb for a database by
URL, `to_dialect` carries examples written for SQLite there), or raises `SQLError` with `kind` saying why there is none. An answer that contains a write
anywhere (INSERT … SELECT, CREATE TABLE … AS SELECT, `SELECT 1; DROP TABLE t`) is refused whole,
never trimmed to the SELECT inside it.

Before any parser sees text, its size is capped and its nesting depth checked, so a 5 MB answer
or `SELECT ((((…1…))))` costs milliseconds, and sqlglot's recursion limit is never reached.

>>> postprocess("Sure! ```sql\\nSELECT name FROM t WHERE id = 1;\\n``` Hope it helps.")
'SELECT name FROM t WHERE id = 1'
>>> postprocess("SQLQuery: SELECT 1")
'SELECT 1'
>>> postprocess("SELECT 1; DROP TABLE t")
Traceback (most recent call last):
rag.errors.SQLError: refused: the model's answer contains a write (DROP TABLE); it is not run, not even in part
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import TokenType

from rag.errors import SQLError

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)
_PREFIX = re.compile(r"^\s*(?:SQLQuery|SQL query|SQL|Query|Answer)\s*:\s*", re.IGNORECASE)
_START = re.compile(r"\b(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|ATTACH|DETACH|PRAGMA|VACUUM)\b", re.IGNORECASE)
_MAX_STARTS = 20
_STOP = re.compile(r"(?<=\n)[ \t]*(?:SQLResult|Answer|Explanation|Question|Note)[ \t]*:", re.IGNORECASE | re.MULTILINE)

# Statement types that read only. Everything else (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER,
# ATTACH, PRAGMA, ...) is refused before execution; the sandbox's authorizer refuses them again.
_READ_ONLY = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Merge, exp.Into)  # Into: SELECT … INTO

_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
# SQLite's quoted strings and identifiers and its comments (an unclosed one runs to the end), in
# which a semicolon, a parenthesis or a keyword means nothing
_QUOTED = r"""'[^']*(?:'|\Z)|"[^"]*(?:"|\Z)|`[^`]*(?:`|\Z)|\[[^\]]*(?:\]|\Z)|--[^\n]*|/\*.*?(?:\*/|\Z)"""
_SEMICOLON = re.compile(_QUOTED + "|;", re.DOTALL)
_NESTING = re.compile(_QUOTED + r"|[()]|\b(?:CASE|END)\b", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_CREATE_TRIGGER = re.compile(r"(?:\s|--[^\n]*|/\*.*?\*/)*+CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.DOTALL | re.IGNORECASE)
_ENDS_WITH_END = re.compile(r"\bEND\s*\Z", re.IGNORECASE)
# A statement that changes something, as SQLite spells it (its lang.html statement list). Found
# anywhere in a model's answer (comments removed), it makes the whole answer refused.
_NAME = r"""(?:"[^"]*"|`[^`]*`|\[[^\]]*\]|[\w.]+)"""
_WRITE = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|DELETE\s+FROM"
    rf"|UPDATE\s+(?:OR\s+\w+\s+)?{_NAME}(?:\s+(?:AS\s+)?\w+)?\s+SET"
    r"|CREATE\s+(?:(?:TEMP|TEMPORARY|UNIQUE|VIRTUAL)\s+)*(?:TABLE|VIEW|INDEX|TRIGGER)|DROP\s+(?:TABLE|VIEW|INDEX|TRIGGER)"
    r"|ALTER\s+TABLE|ATTACH\s+(?:DATABASE\s+)?\S+\s+AS|DETACH\s+DATABASE|VACUUM(?:\s+\w+)?\s+INTO|PRAGMA\s+\w+)\b"
    r"|(?:^|;)[ \t]*(?:VACUUM|REINDEX|ANALYZE|DETACH)\b"
    # and as PostgreSQL, MySQL/MariaDB and DuckDB spell theirs
    r"|\bINTO\s+(?:OUTFILE|DUMPFILE)\b|\bLOAD\s+DATA\b|\bTRUNCATE\s+(?:TABLE\s+)?\w|\bCOPY\s+\S+(?:\s*\([^)]*\))?\s+(?:TO|FROM)\b"
    r"|\bSET\s+(?:(?:SESSION|GLOBAL|LOCAL|ROLE|STATEMENT)\b|@@\w|\w+\s*(?:=|TO\b))|(?:^|;)[ \t]*(?:GRANT|REVOKE|INSTALL|CHECKPOINT)\b",
    re.IGNORECASE | re.MULTILINE,
)
MAX_SQL_CHARS = 50_000  # one statement (settings: execution.max_sql_chars)
MAX_ANSWER_CHARS = 20_000  # one model answer (settings: llm.max_answer_chars)
# Parentheses and CASEs open at once. sqlglot's parser recurses about 20 frames per level, so
# this keeps any statement far from Python's recursion limit; real queries nest a few levels.
MAX_NESTING = 32


def check_size(text: str, max_chars: int, what: str) -> None:
    """Refuse text over `max_chars` before any parser or regex reads it."""
    if len(text) > max_chars:
        raise SQLError(f"{what} is {len(text):,} characters; the limit is {max_chars:,}", kind="too_large")


def nesting_depth(sql: str, stop_after: int = MAX_NESTING) -> int:
    """The deepest nesting of parentheses and CASE…END outside quotes and comments (counting stops past `stop_after`).

    >>> nesting_depth("SELECT (1 + (2)) , ')))(((' , CASE WHEN a THEN (b) END")
    2
    """
    depth = deepest = 0
    for match in _NESTING.finditer(sql):
        token = match.group().upper()
        if token in ("(", "CASE"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_after:
                break
        elif token in (")", "END"):
            depth = max(0, depth - 1)
    return deepest


def check_nesting(sql: str, max_depth: int = MAX_NESTING) -> None:
    depth = nesting_depth(sql, max_depth)
    if depth > max_depth:
        raise SQLError(f"the SQL nests more than {max_depth} levels deep (parentheses and CASE); refused", kind="too_large", sql=sql)


def refuse_writes(text: str) -> None:
    """Refuse, never repair: a model answer with a write anywhere is not run, not even its SELECT part."""
    found = _WRITE.search(_COMMENT.sub(" ", text))
    if found:
        statement = " ".join(found.group().split()).strip("; ")[:60]
        raise SQLError(
            f"refused: the model's answer contains a write ({statement.upper()}); it is not run, not even in part", kind="forbidden"
        )


def extract_candidates(text: str) -> list[str]:
    """Candidate SQL snippets in the order a reader would try them: fenced blocks, then bare text."""
    if not text or not text.strip():
        raise SQLError("the model's answer is empty", kind="no_sql")
    candidates = [block.strip() for block in _FENCE.findall(text) if block.strip()]
    candidates.append(text.strip())
    return candidates


def cut_statements(candidate: str) -> list[str]:
    """Statements starting at each SQL keyword (prose may say "select" too), cut at a semicolon
    or a trailing 'Answer:'-style line."""
    candidate = _PREFIX.sub("", candidate)
    found = []
    for start in list(_START.finditer(candidate))[:_MAX_STARTS]:
        body = candidate[start.start() :]
        stop = _STOP.search(body)
        if stop:
            body = body[: stop.start()]
        statements = [s for s in split_statements(body) if s.strip()]
        if statements:
            found.append(statements[0].strip())
    return found


def split_statements(script: str) -> list[str]:
    """The statements of a script, without their semicolons and leading comments.

    SQLite's quoting rules decide where one ends, so semicolons inside quotes, comments or a
    trigger's BEGIN … END do not split; a trailing statement without a semicolon counts too. One
    pass over the text (a model's answer or a pasted script may be long).

    >>> split_statements("SELECT 'a;b'; /* note; */ SELECT 2")
    ["SELECT 'a;b'", 'SELECT 2']
    """
    statements, start = [], 0
    in_trigger = bool(_CREATE_TRIGGER.match(script))
    for match in _SEMICOLON.finditer(script):
        if match.group() != ";":
            continue
        end = match.start()
        if in_trigger and not _ENDS_WITH_END.search(script[max(start, end - 64) : end]):
            continue  # a statement inside the trigger's body
        statements.append(script[start:end])
        start = end + 1
        in_trigger = bool(_CREATE_TRIGGER.match(script, start))
    statements.append(script[start:])
    cleaned = (_LEADING_COMMENTS.sub("", s, count=1).strip() for s in statements)
    return [s for s in cleaned if s]


DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL", "duckdb": "DuckDB"}


def parse_sqlite(sql: str) -> exp.Expression:
    """Parse one statement with sqlglot's SQLite dialect (see `parse_sql`)."""
    return parse_sql(sql, "sqlite")


def parse_sql(sql: str, dialect: str) -> exp.Expression:
    """Parse one statement in a sqlglot dialect (nesting checked first; a statement that still
    recurses too deeply is refused, never a RecursionError)."""
    check_nesting(sql)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if isinstance(s, exp.Expression)]  # every parsed node is one; None is not
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SQLError(f"SQL does not parse as {DIALECT_NAMES.get(dialect, dialect)}: {first[:200]}", kind="parse_error", sql=sql) from None
    except RecursionError:
        raise SQLError("the SQL is nested too deeply to parse; refused", kind="too_large", sql=sql) from None
    if len(statements) != 1:
        raise SQLError(f"expected one SQL statement, found {len(statements)}", kind="parse_error", sql=sql)
    return statements[0]


def validate_read_only(tree: exp.Expression, sql: str) -> None:
    """Refuse anything that is not a single read-only query."""
    if any(isinstance(node, _WRITES) for node in tree.walk()):
        raise SQLError("only read-only SELECT queries are allowed", kind="forbidden", sql=sql)
    if not isinstance(tree, _READ_ONLY):
        raise SQLError(f"expected a SELECT query, got {tree.key.upper()}", kind="not_select", sql=sql)


# Functions that reach outside the database (the server's files, other servers, large objects),
# signal or reconfigure the server, run SQL given as text, or stall it: refused by name, per
# dialect, wherever they appear (any quoting, case, schema, subquery, CTE or argument). Read-only
# transactions protect the data, not the server: a superuser reads files inside one.
FORBIDDEN_FUNCTIONS = {
    "postgres": (
        r"pg_read_file|pg_read_binary_file|pg_ls_\w*|pg_stat_file|pg_file_\w*|pg_logdir_ls|lo_\w*|be_lo_\w*"
        r"|pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_reload_conf|pg_rotate_logfile\w*|pg_promote"
        r"|pg_log_backend_memory_contexts|set_config|dblink\w*|pg_sleep\w*|query_to_xml\w*|ts_stat"
        r"|pg_advisory_\w*|pg_try_advisory_\w*|pg_notify|pg_switch_wal|pg_create_\w+|pg_drop_replication_slot"
        r"|pg_replication_\w+|pg_backup_\w+|pg_start_backup|pg_stop_backup|pg_import_system_collations|setval|nextval"
    ),
    "mysql": (
        r"load_file|sleep|benchmark|get_lock|release_lock|release_all_locks|is_used_lock|is_free_lock"
        r"|master_pos_wait|source_pos_wait|master_gtid_wait|wait_for_executed_gtid_set|wait_until_sql_thread_after_gtids"
        r"|sys_exec|sys_eval|lo_\w*"
    ),
    "duckdb": (
        r"read_text|read_blob|read_csv\w*|read_parquet|parquet_\w+|read_json\w*|read_ndjson\w*|glob|sniff_csv"
        r"|getenv|query|query_table|read_xlsx|st_read\w*|sqlite_scan|sqlite_attach|postgres_\w+|mysql_\w+"
    ),
    "sqlite": r"load_extension|readfile|writefile|edit|fts3_tokenizer",
}  # fmt: skip
_FORBIDDEN = {dialect: re.compile(names) for dialect, names in FORBIDDEN_FUNCTIONS.items()}
_UNICODE_ESCAPE = re.compile(r"\\(?:\+([0-9A-Fa-f]{6})|([0-9A-Fa-f]{4}))")  # PostgreSQL's U&"…" identifiers
_EXECUTABLE_COMMENT = re.compile(r"/\*M?!", re.IGNORECASE)


def forbidden_function(name: str, dialect: str) -> bool:
    """Whether a function of this name is refused in `dialect` (any case; PostgreSQL's `\\XXXX` escapes decoded).

    >>> forbidden_function("PG_READ_FILE", "postgres"), forbidden_function("pg_ls_waldir", "postgres"), forbidden_function("lower", "postgres")
    (True, True, False)
    """
    pattern = _FORBIDDEN.get(dialect)
    if pattern is None:
        return False
    if dialect == "postgres":
        name = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), name)
    return bool(pattern.fullmatch(name.strip().lower()))


def refuse_forbidden_functions(sql: str, dialect: str) -> None:
    """Refuse a statement that calls a function of `FORBIDDEN_FUNCTIONS` (kind forbidden), found on
    sqlglot's tree of the statement; SQL sqlglot cannot parse is checked token by token (every name
    followed by a parenthesis), and SQL it cannot even tokenize is not run. MySQL's executable
    comments (`/*! … */`) and PostgreSQL's `UESCAPE` could hide a name from both, so they are refused."""
    if dialect == "mysql" and _EXECUTABLE_COMMENT.search(sql):  # anywhere: MySQL's backslash escapes make "inside a string" uncertain
        raise SQLError("refused: MySQL executable comments (/*! … */) are not run", kind="forbidden", sql=sql)
    names = _called_names(sql, dialect)
    if dialect == "postgres" and "uescape" in (n.lower() for n in names[1]):
        raise SQLError("refused: identifiers with UESCAPE are not run", kind="forbidden", sql=sql)
    found = next((name for name in names[0] if forbidden_function(name, dialect)), None)
    if found is not None:
        raise SQLError(
            f"refused: {found.lower()}() reaches outside the database or changes the server's state; it is not run",
            kind="forbidden",
            sql=sql,
        )


def _called_names(sql: str, dialect: str) -> tuple[list[str], list[str]]:
    """(names of the functions the statement calls, from sqlglot's tree when it parses, else from its
    tokens; the text of every token but strings)."""
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (TokenError, ParseError, ValueError) as exc:
        raise SQLError(
            f"SQL does not tokenize as {DIALECT_NAMES.get(dialect, dialect)}; it is not run", kind="parse_error", sql=sql
        ) from exc
    words = [t.text for t in tokens if t.token_type not in (sqlglot.TokenType.STRING,)]
    try:
        check_nesting(sql)
        tree = sqlglot.parse_one(sql, read=dialect)
    except (SqlglotError, RecursionError, SQLError):
        tree = None
    if tree is not None:
        called = [node.name for node in tree.walk() if isinstance(node, exp.Anonymous)]
        called += [
            name for node in tree.walk() if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous) for name in node.sql_names()
        ]
    else:  # a name followed by "(" is a call, whatever the statement is
        called = [
            t.text
            for t, after in zip(tokens, tokens[1:])
            if after.token_type == sqlglot.TokenType.L_PAREN and t.token_type != sqlglot.TokenType.STRING
        ]
    return called, words


def postprocess(text: str, *, max_chars: int = MAX_ANSWER_CHARS, max_sql_chars: int = MAX_SQL_CHARS, dialect: str = "sqlite") -> str:
    """Extract, parse and validate: the SQL to run, without a trailing semicolon. An answer over
    `max_chars` or with a write anywhere is refused before anything is parsed."""
    check_size(text or "", max_chars, "the model's answer")
    refuse_writes(text or "")
    last_error: SQLError | None = None
    for candidate in extract_candidates(text):
        for sql in cut_statements(candidate):
            try:
                check_size(sql, max_sql_chars, "the SQL")
                for check in VALIDATORS:
                    check(sql, dialect)
                return sql
            except SQLError as exc:
                if last_error is None or exc.kind != "parse_error":
                    last_error = exc
    if last_error is not None:
        raise last_error
    raise SQLError("no SQL query found in the model's answer", kind="no_sql")


def _check_parses_read_only(sql: str, dialect: str) -> None:
    validate_read_only(parse_sql(sql, dialect), sql)


VALIDATORS: tuple[Callable[[str, str], None], ...] = (_check_parses_read_only,)


def validate_user_sql(sql: str, *, max_chars: int = MAX_SQL_CHARS, dialect: str = "sqlite") -> str:
    """SQL typed by a person (`coderag sql`, the UI's edit box): one read-only statement, at most
    `max_chars` long (checked before anything reads it)."""
    check_size(sql, max_chars, "the SQL")
    statements = [s for s in split_statements(sql) if s.strip()]
    if not statements:
        raise SQLError("the SQL is empty", kind="no_sql")
    if len(statements) > 1:
        raise SQLError("only one SQL statement can run at a time", kind="forbidden", sql=sql)
    statement = statements[0].strip()
    for check in VALIDATORS:
        check(statement, dialect)
    return statement


def to_dialect(sql: str, dialect: str, source: str = "sqlite") -> str:
    """An example's SQL written for `source` (SQLite: the corpus and the stores) in `dialect`,
    through sqlglot's transpiler; SQL it cannot read is returned as it is (running it will say why).

    >>> to_dialect("SELECT name FROM t WHERE a || b = 'xy' LIMIT 3", "mysql")
    "SELECT name FROM t WHERE CONCAT(a, b) = 'xy' LIMIT 3"
    """
    if dialect == source:
        return sql
    try:
        check_nesting(sql)
        return sqlglot.transpile(sql, read=source, write=dialect)[0]
    except (SQLError, ParseError, TokenError, IndexError, RecursionError, sqlglot.errors.SqlglotError):
        return sql


_SQLITE = SQLite()
_NAMES = {TokenType.VAR, TokenType.IDENTIFIER}
_LITERALS = {TokenType.STRING, TokenType.NUMBER, TokenType.HEX_STRING, TokenType.BIT_STRING, TokenType.NATIONAL_STRING}


def normalize_sql(sql: str, *, tokens: bool = True) -> str:
    """One text per query, for comparing and deduplicating queries.

    `tokens=True` (exact match): the query's SQLite tokens joined by single spaces, keywords and
    function names upper-case, identifiers unquoted, literals and identifier case as written, no
    trailing semicolon. `tokens=False` (a cheap key where text differing only in case or spacing
    is the same query): lower case, single spaces, no trailing semicolon.

    >>> normalize_sql('select "name" from  books where id=1;') == normalize_sql("SELECT name FROM books WHERE id = 1")
    True
    >>> normalize_sql(" SELECT  Name\\nFROM t; ", tokens=False)
    'select name from t'
    """
    if not tokens:
        return re.sub(r"\s+", " ", sql.strip().rstrip(";")).strip().lower()
    try:
        found = _SQLITE.tokenize(sql)
    except SqlglotError:
        return " ".join(sql.replace(";", " ").split())
    words = []
    for position, token in enumerate(found):
        following = found[position + 1].token_type if position + 1 < len(found) else None
        if token.token_type == TokenType.STRING:
            words.append("'" + token.text.replace("'", "''") + "'")
        elif token.token_type in _LITERALS:
            words.append(token.text)
        elif token.token_type in _NAMES:
            words.append(token.text.upper() if following == TokenType.L_PAREN else token.text)
        else:
            words.append(" ".join(token.text.split()).upper())
    while words and words[-1] == ";":
        words.pop()
    return " ".join(words)
