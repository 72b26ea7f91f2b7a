"""Mask a question's domain words (DAIL-SQL), so questions compare by structure, not by topic.

When a question's own database has few or no examples, retrieval falls back to other databases'
examples, and there the useful neighbour is the one with the same SQL shape ("How many <table>
have <column> above <number>?"), not the one about the same subject. `mask_question` replaces

    table names        → <table>     with singular/plural and split-identifier variants
    column names       → <column>    (snake_case, camelCase, spaces, hyphens, digits)
    cell values        → <value>     sampled read-only from the database (bounded, see `MaskingLimits`)
    quoted literals    → <value>     ('...', "...", `...`, curly quotes), or <table>/<column> when they name one
    dates and times    → <value>     (2024-03-15, 03/2024, 10:30)
    numbers            → <number>

Matching is on words, case-insensitive (Unicode casefold), longest phrase first, a schema word
before a value of the same length, a table before a column. A single word that is also an
English function word or a word that shapes the query ("total", "count", "first", "top", "each",
...) is not masked when it is a whole name or a cell value on its own; multi-word names are
matched whole, and their distinctive words (3+ letters, not such a word) are matched alone too
("date" for `appt_date`).

The masked text never collapses: when no word of the question is left unmasked (a question made of
schema words or numbers only), the plain question is returned instead. Text in the question that
looks like a placeholder (`<table>`) is written with other brackets (‹table›), so the placeholders in
the output are exactly the masks.

>>> vocab = Vocabulary.from_names(tables=["appointments"], columns=["appt_date", "status", "fee"], values=["Cancelled"])
>>> mask_question("How many appointments were cancelled after 2024-03-01 with a fee above 150?", vocab)
'How many <table> were <value> after <value> with a <column> above <number>?'
>>> mask_question("appointments", vocab)
'appointments'
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from rag.describe import describe
from rag.errors import CodeRagError
from rag.execution import DatabaseSource, open_source
from rag.words import normalize_word, split_identifier

if TYPE_CHECKING:
    from rag.engines import Database

Kind = Literal["table", "column", "value", "number"]
PLACEHOLDERS: dict[str, str] = {"table": "<table>", "column": "<column>", "value": "<value>", "number": "<number>"}

# Words that shape a query rather than name its data: never masked as a whole name or value on
# their own (a multi-word name containing them is still masked whole).
FUNCTION_WORDS = frozenset(
    """a an the of in on at to for from by with without and or not no nor is are was were be been being
    do does did has have had this that these those there their its it they them he she his her we our you
    your i me my which what who whom whose when where why how than then as if else so such all any each
    every both either neither some many much more most less least few fewer per into onto over under
    between among within about above below after before during since until up down out off only also just
    very too same other another one ones""".split()
)
QUERY_WORDS = frozenset(
    """count counts number numbers total totals sum sums average averages avg mean median max maximum
    min minimum highest lowest largest smallest biggest greatest top bottom first last latest earliest
    oldest newest order ordered sort sorted rank ranked ranking group grouped distinct unique list show
    find give return get percentage percent share ratio rate difference running cumulative overall together combined
    including include exclude excluding except yes true false null none empty""".split()
)
STOP_WORDS = FUNCTION_WORDS | QUERY_WORDS

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*%?(?![\w])")
_DATE = re.compile(
    r"(?<![\w.])\d{1,4}(?:[-/]\d{1,4}){1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?(?![\w])|(?<![\w.:])\d{1,2}:\d{2}(?::\d{2})?(?![\w:])"
)
# An opening quote starts the text or follows a non-word character; the closing one ends the text or
# precedes one, so the apostrophes of "doctor's" and "aren't" are not quotes.
_QUOTED = re.compile(
    r"""(?<!\w)(?:'([^'\n]{1,200})'|"([^"\n]{1,200})"|`([^`\n]{1,200})`|‘([^’\n]{1,200})’|“([^”\n]{1,200})”|«([^»\n]{1,200})»)(?!\w)"""
)
_PLACEHOLDER_LIKE = re.compile(r"<(\w+)>")


@dataclass(frozen=True)
class MaskingLimits:
    """Bounds on reading cell values: time, rows, columns, values and their length."""

    budget_s: float = 2.0  # all sampling queries of one database together
    rows_per_table: int = 500  # rows read from the top of each table
    max_value_columns: int = 256  # columns whose values are sampled, text-typed first
    columns_per_query: int = 32
    values_per_column: int = 64
    max_values: int = 5000
    max_value_chars: int = 64  # longer cell values are never read into Python
    max_phrase_words: int = 8
    max_tables: int = 2000  # tables whose names are read


@dataclass(frozen=True)
class Span:
    """One masked stretch of the question: [start, end) and its kind."""

    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class Masked:
    """A masked question: its text, the spans masked, and whether it fell back to the plain question."""

    text: str
    spans: tuple[Span, ...]
    fell_back: bool = False


# --- words and identifiers ------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(normalize_word(w) for w in _WORD.findall(text))


def _is_stop(key: tuple[str, ...]) -> bool:
    return len(key) == 1 and (key[0] in STOP_WORDS or len(key[0]) < 2 or key[0].isdigit())


# --- the vocabulary -------------------------------------------------------------------------------

_RANK = {"table": 0, "column": 1, "value": 2}


@dataclass(frozen=True)
class Vocabulary:
    """A database's names and sampled cell values; `truncated` says a limit cut the values short."""

    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    truncated: bool = False
    # table or view → its (column, declared type) pairs, and the sampled (table, column) each value came from
    table_columns: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, compare=False)
    value_columns: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict, compare=False)

    @classmethod
    def from_names(
        cls, tables: Iterable[str] = (), columns: Iterable[str] = (), values: Iterable[str] = (), *, max_value_chars: int = 64
    ) -> Vocabulary:
        """A vocabulary from known names and values (values longer than `max_value_chars` are dropped)."""
        kept = [v for v in (str(v).strip() for v in values) if v and len(v) <= max_value_chars]
        return cls(tables=tuple(dict.fromkeys(tables)), columns=tuple(dict.fromkeys(columns)), values=tuple(dict.fromkeys(kept)))

    @cached_property
    def lexicon(self) -> dict[tuple[str, ...], str]:
        """Normalized word sequence → kind, for every name variant, partial name word and value."""
        full: dict[tuple[str, ...], str] = {}
        partial: dict[tuple[str, ...], str] = {}

        def put(target: dict[tuple[str, ...], str], key: tuple[str, ...], kind: str) -> None:
            if key and not _is_stop(key) and (key not in target or _RANK[kind] < _RANK[target[key]]):
                target[key] = kind

        for kind, names in (("table", self.tables), ("column", self.columns)):
            for name in names:
                put(full, _words(name.replace("_", " ")), kind)  # "Order Details", "order-details"
                put(full, tuple(normalize_word(w) for w in split_identifier(name)), kind)  # orderDetails
                whole = normalize_word(re.sub(r"\s+", "_", name.strip()))
                if _WORD.fullmatch(whole):
                    put(full, (whole,), kind)  # the identifier written as is: appt_date
                pieces = [normalize_word(w) for w in split_identifier(name)]
                if len(pieces) > 1:
                    for piece in pieces:
                        if len(piece) >= 3 and not piece.isdigit():
                            put(partial, (piece,), kind)
        for value in self.values:
            put(full, _words(value), "value")
        merged = {**partial, **full}  # a whole match wins over a partial one
        return merged

    @cached_property
    def literal_values(self) -> re.Pattern[str] | None:
        """Values with characters beyond words and spaces ("C++", "<b>", "#1 Fan"), matched as written
        (case-insensitive): their punctuation belongs to the value, so it is masked with it."""
        odd = sorted(
            {v for v in self.values if len(v) >= 2 and not re.fullmatch(r"[\w\s]+", v) and _words(v) and not _is_stop(_words(v))},
            key=len,
            reverse=True,
        )
        if not odd:
            return None
        return re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in odd), re.IGNORECASE)

    def lookup(self, text: str) -> str | None:
        """The kind a quoted text names (`table`, `column`), or None."""
        kind = self.lexicon.get(_words(text))
        return kind if kind in ("table", "column") else None


EMPTY = Vocabulary()


def vocabulary_of(database: Database, limits: MaskingLimits = MaskingLimits()) -> Vocabulary:
    """Names from the database's description (rag.describe), plus cell values sampled read-only within `limits`.

    Values are read from the first `rows_per_table` rows of each table (not views), `columns_per_query`
    columns per query, text values up to `max_value_chars` characters only (longer ones stay in
    SQLite), at most `values_per_column` distinct values per column and `max_values` in all, and no
    query starts after `budget_s`. A failing or slow sampling query just ends the sampling.
    """
    deadline = time.monotonic() + limits.budget_s
    tables, columns, truncated = _names(database, limits)
    values: dict[str, None] = {}
    sources: dict[str, dict[tuple[str, str], None]] = {}
    plan = [(table, cols) for table, cols in columns.items() if table in tables]
    budget = limits.max_value_columns
    for table, cols in plan:
        if budget <= 0 or len(values) >= limits.max_values:
            truncated = True
            break
        chosen = sorted(cols, key=lambda c: 0 if _texty(c[1]) else 1)[:budget]
        truncated |= len(chosen) < len(cols)
        budget -= len(chosen)
        for start in range(0, len(chosen), limits.columns_per_query):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                return _vocabulary(tables, columns, values, sources, truncated=True)
            chunk = [name for name, _ in chosen[start : start + limits.columns_per_query]]
            try:
                result = database.execute(_sample_sql(table, chunk, limits, database), timeout_s=remaining, max_rows=limits.rows_per_table)
            except CodeRagError:
                truncated = True
                continue
            per_column: list[dict[str, None]] = [{} for _ in chunk]
            for row in result.rows:
                for i, cell in enumerate(row):
                    if isinstance(cell, str) and len(cell) <= limits.max_value_chars and len(per_column[i]) < limits.values_per_column:
                        per_column[i][cell.strip()] = None
            for column, seen in zip(chunk, per_column):
                for cell in seen:
                    if len(values) >= limits.max_values and cell not in values:
                        truncated = True
                        break
                    values[cell] = None
                    sources.setdefault(cell, {})[(table, column)] = None
    return _vocabulary(tables, columns, values, sources, truncated=truncated)


def _vocabulary(
    tables: list[str],
    columns: dict[str, list[tuple[str, str]]],
    values: dict[str, None],
    sources: dict[str, dict[tuple[str, str], None]],
    *,
    truncated: bool,
) -> Vocabulary:
    names = [c for cols in columns.values() for c, _ in cols]
    return Vocabulary(
        tables=tuple(dict.fromkeys(tables)),
        columns=tuple(dict.fromkeys(names)),
        values=tuple(v for v in values if v),
        truncated=truncated,
        table_columns={table: tuple(cols) for table, cols in columns.items()},
        value_columns={value: tuple(where) for value, where in sources.items() if value},
    )


def _texty(declared: str) -> bool:
    declared = declared.upper()
    return not declared or any(word in declared for word in ("CHAR", "TEXT", "CLOB", "STRING", "VARCHAR"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sample_sql(table: str, columns: Sequence[str], limits: MaskingLimits, database: Any = None) -> str:
    if database is not None and database.dialect != "sqlite":  # a database by URL: text is kept by length below
        return f"SELECT {', '.join(database.quote(c) for c in columns)} FROM {database.quote(table)} LIMIT {limits.rows_per_table}"
    cells = ", ".join(
        f"CASE WHEN typeof({_quote(c)}) = 'text' AND length({_quote(c)}) <= {limits.max_value_chars} THEN {_quote(c)} END" for c in columns
    )
    return f"SELECT {cells} FROM {_quote(table)} LIMIT {limits.rows_per_table}"


def _names(database: Database, limits: MaskingLimits) -> tuple[list[str], dict[str, list[tuple[str, str]]], bool]:
    """(tables, {table: [(column, declared type)]}, truncated) from the database's description
    (rag.describe), at most `max_tables` of them; a database without tables has no names."""
    if not database.table_names():
        return [], {}, False
    described = describe(database)
    kept = described.tables[: limits.max_tables]
    columns = {t.name: [(c.name, c.type) for c in t.columns] for t in kept}
    return [t.name for t in kept], columns, len(described.tables) > limits.max_tables


class VocabularyCache:
    """Vocabularies per database source (a SQLite file or a context script), read once each.

    A source that does not load masks with an empty vocabulary (numbers, dates and quotes only);
    `failures` counts them.
    """

    def __init__(self, limits: MaskingLimits = MaskingLimits(), *, timeout_s: float = 5.0) -> None:
        self.limits = limits
        self.timeout_s = timeout_s
        self.failures = 0
        self._cache: dict[str, Vocabulary] = {}

    def get(self, source: DatabaseSource) -> Vocabulary:
        key = source.key
        if key not in self._cache:
            self._cache[key] = self._read(source)
        return self._cache[key]

    def _read(self, source: DatabaseSource) -> Vocabulary:
        if not source.path and not (source.context and source.context.strip()):
            return EMPTY
        try:
            database = open_source(source, timeout_s=self.timeout_s, max_rows=1000)
        except CodeRagError:
            self.failures += 1
            return EMPTY
        try:
            with database:
                return vocabulary_of(database, self.limits)
        except CodeRagError:
            self.failures += 1
            return EMPTY


# --- masking --------------------------------------------------------------------------------------


def mask(question: str, vocabulary: Vocabulary = EMPTY, *, max_phrase_words: int = MaskingLimits.max_phrase_words) -> Masked:
    """The masked question with its spans; falls back to the plain question when nothing but masks would remain."""
    spans: list[Span] = []
    taken = [False] * len(question)

    def claim(start: int, end: int, kind: Kind) -> None:
        spans.append(Span(start, end, kind))
        for i in range(start, end):
            taken[i] = True

    for match in _QUOTED.finditer(question):
        inner = next(g for g in match.groups() if g is not None)
        claim(match.start(), match.end(), vocabulary.lookup(inner) or "value")  # type: ignore[arg-type]
    literal = vocabulary.literal_values
    if literal is not None:
        for match in literal.finditer(question):
            if match.end() > match.start() and not any(taken[match.start() : match.end()]):
                claim(match.start(), match.end(), "value")
    words = [(m.start(), m.end(), normalize_word(m.group())) for m in _WORD.finditer(question) if not taken[m.start()]]
    lexicon = vocabulary.lexicon
    i = 0
    while i < len(words):
        found = None
        for length in range(min(max_phrase_words, len(words) - i), 0, -1):
            group = words[i : i + length]
            if length > 1 and not _adjacent(question, group):
                continue
            kind = lexicon.get(tuple(w for _, _, w in group))
            if kind is not None:
                found = (length, kind)
                break
        if found:
            length, kind = found
            claim(words[i][0], words[i + length - 1][1], kind)  # type: ignore[arg-type]
            i += length
        else:
            i += 1
    for pattern, kind in ((_DATE, "value"), (_NUMBER, "number")):
        for match in pattern.finditer(question):
            if not any(taken[match.start() : match.end()]):
                claim(match.start(), match.end(), kind)  # type: ignore[arg-type]
    spans.sort(key=lambda s: s.start)
    text = _render(question, spans)
    if not spans:
        return Masked(text=text, spans=())
    if not _has_unmasked_word(question, taken):
        return Masked(text=_escape(question), spans=(), fell_back=True)
    return Masked(text=text, spans=tuple(spans))


def mask_question(question: str, vocabulary: Vocabulary = EMPTY) -> str:
    """`question` with its table/column names, cell values, quoted literals, dates and numbers masked."""
    return mask(question, vocabulary).text


def _adjacent(question: str, group: Sequence[tuple[int, int, str]]) -> bool:
    """Words of one phrase are separated by spaces, underscores, hyphens, dots or slashes only."""
    return all(re.fullmatch(r"[\s_\-./']{1,3}", question[a[1] : b[0]]) for a, b in zip(group, group[1:]))


def _has_unmasked_word(question: str, taken: list[bool]) -> bool:
    return any(not any(taken[m.start() : m.end()]) and not m.group().isdigit() for m in re.finditer(r"[^\W_]+", question))


def _escape(text: str) -> str:
    """Text that looks like a placeholder, re-bracketed so that only real masks read as placeholders."""
    return _PLACEHOLDER_LIKE.sub(r"‹\1›", text)


def _render(question: str, spans: list[Span]) -> str:
    out: list[str] = []
    cursor = 0
    previous: Span | None = None
    for span in spans:
        between = question[cursor : span.start]
        if previous is not None and previous.kind == span.kind and span.kind in ("table", "column") and not between.strip(" _-"):
            cursor = span.end  # "first name" matched word by word: one <column>
            continue
        out.append(_escape(between))
        out.append(PLACEHOLDERS[span.kind])
        cursor = span.end
        previous = span
    out.append(_escape(question[cursor:]))
    return "".join(out)


def mask_all(questions: Sequence[str], sources: Sequence[DatabaseSource], cache: VocabularyCache | None = None) -> list[str]:
    """Each question masked with its own database's vocabulary (read once per database)."""
    cache = cache or VocabularyCache()
    return [mask_question(q, cache.get(s)) for q, s in zip(questions, sources)]
