"""Retrieve, then adapt: knn's answer fitted to the question, without an LLM.

The closest stored examples' SQL are sketches. Each is parsed (sqlglot) and its slots are filled
from the question, on the AST, never by splicing strings:

- `table`     the question names a table the sketch does not read, and the sketch's one table is
              not named: the table is swapped, each column mapped by name (a text column to the
              new table's named text column);
- `aggregate` the wording asks for another aggregate ("average" and AVG, "total" and SUM,
              "highest" and MAX, "lowest" and MIN) than the sketch's;
- `grouping`  a GROUP BY the question does not ask for ("the average price", not "in each genre")
              is removed with its columns, the aggregates kept;
- `order`     "highest"/"lowest" against the sketch's ORDER BY direction; "top 5" sets the LIMIT;
- `column`    a column the question does not name is replaced by a same-typed column of the same
              table that it does;
- `value`     a literal the question does not mention is replaced by a number, quoted string or
              cell value (from the database's sampled values, rag.masking) that it does, in the
              column that value was found in;
- `filter`    a mentioned cell value of a table the sketch reads, or "more than 5" with a mentioned
              numeric column, becomes a new WHERE condition; a condition whose value the question
              never mentions may be dropped.

Every candidate is executed read-only and checked (no error, some rows, not all empty or zero
where a filter was added); the evidence of `rag.abstain` is gathered for each, with its edit
count, and the candidate with the best confidence is the answer. Adaptation gives up cleanly: a
sketch that does not parse or whose slots cannot be filled yields only itself, and the whole
search stops at its time budget.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from rag.abstain import Evidence, confidence, gather, question_literals
from rag.errors import CodeRagError, SQLError
from rag.index import Hit
from rag.masking import STOP_WORDS, Vocabulary, singular, split_identifier
from rag.sandbox import QueryResult, ReadOnlyDatabase
from rag.sqltools import parse_sqlite

__all__ = ["Adaptation", "Edit", "adapt"]


@dataclass(frozen=True)
class Edit:
    """One change to a sketch: its kind and what it replaced with what."""

    kind: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.before} → {self.after}"


@dataclass
class Adaptation:
    """The chosen candidate: its SQL, the example it came from, the edits, and its evidence."""

    sql: str
    from_id: str
    edits: tuple[Edit, ...]
    evidence: Evidence
    confidence: float
    result: QueryResult | None = None
    candidates: int = 0  # candidates scored

    def to_json(self) -> dict[str, Any]:
        return {"from_id": self.from_id, "edits": [str(e) for e in self.edits], "candidates": self.candidates}


@dataclass(frozen=True)
class AdaptLimits:
    """Bounds on the search: sketches tried, candidates scored and executed, and time."""

    sketches: int = 5
    max_candidates: int = 40
    budget_s: float = 2.0
    max_rows: int = 1000


# --- what the question says ------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_MAX_WORDS = re.compile(
    r"\b(?:highest|maximum|max|largest|biggest|longest|most|greatest|top|latest|newest|strongest|heaviest|"
    r"tallest|deepest|busiest|hottest|warmest|priciest|farthest)\b",
    re.I,
)
_MIN_WORDS = re.compile(
    r"\b(?:lowest|minimum|min|smallest|shortest|least|fewest|earliest|cheapest|lightest|coldest|nearest|closest)\b",
    re.I,
)
_AGGREGATE_CUES: tuple[tuple[type[exp.Expression], re.Pattern[str]], ...] = (
    (exp.Avg, re.compile(r"\baverage\b|\bmean\b|\bavg\b", re.I)),
    (exp.Sum, re.compile(r"\btotal\b|\bsum\b|\bcombined\b|\baltogether\b", re.I)),
)
_LIMIT_CUE = re.compile(r"\b(?:top|first|last)\s+(\d{1,4})\b|\b(\d{1,4})\s+(?:most|least|highest|lowest|largest|smallest|biggest|best|worst)\b", re.I)
_COMPARISONS: tuple[tuple[re.Pattern[str], type[exp.Expression]], ...] = (
    (re.compile(r"\b(?:at least|no less than|or more)\b", re.I), exp.GTE),
    (re.compile(r"\b(?:at most|no more than|or less|or fewer)\b", re.I), exp.LTE),
    (re.compile(r"\b(?:more|greater|higher|larger|bigger|longer|older|later|heavier|over|above|after|exceed(?:s|ing)?)\b(?:\s+than)?", re.I), exp.GT),
    (re.compile(r"\b(?:less|fewer|lower|smaller|shorter|younger|earlier|lighter|under|below|before)\b(?:\s+than)?", re.I), exp.LT),
)
_NUMERIC_TYPES = ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")


def _stem(word: str) -> str:
    return singular(word.lower())[:6]


def _name_stems(name: str) -> set[str]:
    words = [w.lower() for w in split_identifier(name)]
    return {_stem(w) for w in words if len(w) > 2 and w not in STOP_WORDS and w != "id"}


def _is_numeric(declared: str) -> bool:
    return any(t in declared.upper() for t in _NUMERIC_TYPES)


@dataclass
class _Question:
    """The question's words, numbers, quoted strings and the cell values it mentions."""

    text: str
    stems: set[str]
    numbers: list[str]
    quoted: list[str]
    values: list[tuple[str, tuple[tuple[str, str], ...]]]  # (stored value, [(table, column)])
    limit: int | None

    @classmethod
    def read(cls, text: str, vocabulary: Vocabulary) -> _Question:
        words = [w.lower() for w in _WORD.findall(text)]
        stems = {_stem(w) for w in words if len(w) > 2 and w not in STOP_WORDS}
        limit_match = _LIMIT_CUE.search(text)
        limit = int(limit_match.group(1) or limit_match.group(2)) if limit_match else None
        literals = question_literals(text)
        quoted = [q for q in literals if not re.fullmatch(r"[\d.]+", q)]
        numbers = [n for n in literals if re.fullmatch(r"\d+(?:\.\d+)?", n) and (limit is None or int(float(n)) != limit)]
        names = {_stem(w) for name in (*vocabulary.tables, *vocabulary.columns) for w in split_identifier(name)}
        values = [(v, where) for v, where in _mentioned_values(words, vocabulary) if not {_stem(w) for w in _WORD.findall(v)} <= names]
        return cls(text, stems, numbers, quoted, values, limit)

    def mentions(self, literal: str) -> bool:
        value = literal.strip("%_ ").lower()
        if not value:
            return True
        if re.fullmatch(r"-?\d+(?:\.\d+)?", value):
            return any(_same_number(value, n) for n in self.numbers)
        return value in self.text.lower()

    def names(self, name: str) -> float:
        """How much of an identifier's words the question says (0: none)."""
        stems = _name_stems(name)
        return len(stems & self.stems) / len(stems) if stems else 0.0


def _mentioned_values(words: list[str], vocabulary: Vocabulary, max_words: int = 6) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Sampled cell values that the question's words spell out (singular forms match plurals), longest first."""
    if not vocabulary.value_columns:
        return []
    keys = _value_keys(vocabulary)
    plain = words
    singulars = [singular(w) for w in words]
    found: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    taken = [False] * len(words)
    for n in range(min(max_words, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            if any(taken[i : i + n]):
                continue
            for form in (tuple(plain[i : i + n]), tuple(singulars[i : i + n])):
                hit = keys.get(form)
                if hit is not None:
                    found.append(hit)
                    taken[i : i + n] = [True] * n
                    break
    return found


def _value_keys(vocabulary: Vocabulary) -> dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]]:
    cached = vocabulary.__dict__.get("_adapt_value_keys")
    if cached is not None:
        return cached
    keys: dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]] = {}
    for value, where in vocabulary.value_columns.items():
        words = tuple(w.lower() for w in _WORD.findall(value))
        if not words or len(words) > 6 or (len(words) == 1 and (words[0] in STOP_WORDS or len(words[0]) < 2 or words[0].isdigit())):
            continue
        keys.setdefault(words, (value, where))
        keys.setdefault(tuple(singular(w) for w in words), (value, where))
    vocabulary.__dict__["_adapt_value_keys"] = keys  # a frozen dataclass still has a __dict__ to cache in
    return keys


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return False


# --- the sketch's parts --------------------------------------------------------------------------


@dataclass
class _Sketch:
    tree: exp.Expression
    edits: list[Edit] = field(default_factory=list)

    def copy(self) -> _Sketch:
        return _Sketch(self.tree.copy(), list(self.edits))

    def sql(self) -> str:
        return self.tree.sql(dialect="sqlite")


def _tables(tree: exp.Expression) -> dict[str, str]:
    """alias (or name) → table name, for the tables the query reads."""
    return {(t.alias_or_name): t.name for t in tree.find_all(exp.Table)}


def _column_table(column: exp.Column, tables: dict[str, str], vocabulary: Vocabulary) -> str | None:
    if column.table:
        return tables.get(column.table)
    owners = [t for t in dict.fromkeys(tables.values()) if any(c == column.name for c, _ in vocabulary.table_columns.get(t, ()))]
    return owners[0] if len(owners) == 1 else None


def _declared(vocabulary: Vocabulary, table: str, column: str) -> str | None:
    for name, declared in vocabulary.table_columns.get(table, ()):
        if name == column:
            return declared
    return None


def _in_limit(node: exp.Expression) -> bool:
    return node.find_ancestor(exp.Limit, exp.Offset) is not None


def _compared_column(literal: exp.Expression) -> exp.Column | None:
    parent = literal.parent
    while isinstance(parent, (exp.Paren, exp.Neg, exp.Cast)):
        parent = parent.parent
    if isinstance(parent, exp.In):
        parent = parent if isinstance(parent.this, exp.Column) else None
        return parent.this if parent is not None else None
    if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)):
        for side in (parent.left, parent.right):
            if isinstance(side, exp.Column):
                return side
    return None


def _conjunct(node: exp.Expression) -> exp.Expression | None:
    """The top-level AND term of a WHERE that holds `node`, or None."""
    where = node.find_ancestor(exp.Where)
    if where is None:
        return None
    term = node
    while term.parent is not None and term.parent is not where and not (isinstance(term.parent, exp.And) and _top_and(term.parent, where)):
        term = term.parent
    return term if term.parent is where or isinstance(term.parent, exp.And) else None


def _top_and(node: exp.Expression, where: exp.Where) -> bool:
    while isinstance(node, exp.And):
        if node.parent is where:
            return True
        node = node.parent
    return False


def _drop_conjunct(term: exp.Expression) -> None:
    parent = term.parent
    if isinstance(parent, exp.Where):
        parent.pop()
    elif isinstance(parent, exp.And):
        other = parent.right if parent.left is term else parent.left
        parent.replace(other)


def _column(name: str, qualifier: str | None) -> exp.Column:
    return exp.column(name, table=qualifier, quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


# --- the edit steps: each turns one sketch into its variants (itself first) -------------------------


def _swap_table(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    yield sketch
    tables = list(sketch.tree.find_all(exp.Table))
    if len(tables) != 1 or sketch.tree.find(exp.Join, exp.Subquery) is not None:
        return
    old = tables[0].name
    if q.names(old) > 0:
        return
    for new in vocabulary.table_columns:
        if new == old or q.names(new) == 0:
            continue
        columns = vocabulary.table_columns[new]
        mapping = {}
        for col in sketch.tree.find_all(exp.Column):
            if col.name in mapping:
                continue
            same = [c for c, _ in columns if c.lower() == col.name.lower()]
            if same:
                mapping[col.name] = same[0]
                continue
            declared = _declared(vocabulary, old, col.name) or ""
            if _is_numeric(declared):
                break
            texts = [c for c, d in columns if not _is_numeric(d) and not c.lower().endswith("id")]
            named = sorted(texts, key=lambda c: -q.names(c))
            if not named:
                break
            mapping[col.name] = named[0]
        else:
            variant = sketch.copy()
            for table in variant.tree.find_all(exp.Table):
                table.set("this", exp.to_identifier(new, quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new)))
            for col in list(variant.tree.find_all(exp.Column)):
                if col.name in mapping and mapping[col.name] != col.name:
                    col.set("this", exp.to_identifier(mapping[col.name], quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", mapping[col.name])))
            variant.edits.append(Edit("table", old, new))
            yield variant


def _swap_aggregate(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    wanted: type[exp.Expression] | None = None
    for kind, cue in _AGGREGATE_CUES:
        if cue.search(q.text):
            wanted = kind
            break
    if wanted is None and not re.search(r"\bhow many\b|\bnumber of\b", q.text, re.I):
        if _MAX_WORDS.search(q.text) and not _MIN_WORDS.search(q.text):
            wanted = exp.Max
        elif _MIN_WORDS.search(q.text) and not _MAX_WORDS.search(q.text):
            wanted = exp.Min
    swappable = (exp.Avg, exp.Sum, exp.Max, exp.Min)
    found = [f for f in sketch.tree.find_all(*swappable) if f.find_ancestor(exp.Select) is sketch.tree]
    if wanted is None or not found or any(isinstance(f, wanted) for f in found) or len(found) != 1:
        yield sketch
        return
    variant = sketch.copy()
    node = next(f for f in variant.tree.find_all(*swappable) if f.find_ancestor(exp.Select) is variant.tree)
    before = node.key.upper()
    node.replace(wanted(this=node.this.copy()))
    variant.edits.append(Edit("aggregate", before, wanted.key.upper()))
    yield variant


def _fix_order(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    tree = sketch.tree
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    if order is None or limit is None or len(order.expressions) != 1:
        yield sketch
        return
    variant = sketch.copy()
    ordered = variant.tree.args["order"].expressions[0]
    descending = bool(ordered.args.get("desc"))
    wants_max = bool(_MAX_WORDS.search(q.text)) and not _MIN_WORDS.search(q.text)
    wants_min = bool(_MIN_WORDS.search(q.text)) and not _MAX_WORDS.search(q.text)
    if (wants_max and not descending) or (wants_min and descending):
        ordered.set("desc", not descending)
        ordered.set("nulls_first", descending)  # SQLite's own NULL placement for the new direction: no NULLS clause
        variant.edits.append(Edit("order", "DESC" if descending else "ASC", "ASC" if descending else "DESC"))
    count = variant.tree.args["limit"].expression
    if q.limit is not None and isinstance(count, exp.Literal) and count.this != str(q.limit):
        variant.tree.args["limit"].set("expression", exp.Literal.number(q.limit))
        variant.edits.append(Edit("order", f"LIMIT {count.this}", f"LIMIT {q.limit}"))
    yield variant if variant.edits != sketch.edits else sketch


_GROUP_CUE = re.compile(r"\beach\b|\bper\b|\bevery\b|\bfor all\b|\bby (?!far\b)\w+|\bbreak(?:down| down)\b", re.I)
_AGGREGATES = (exp.Count, exp.Avg, exp.Sum, exp.Max, exp.Min)


def _fix_grouping(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    """A grouped sketch for a question that asks for no grouping ("the average price", not "in each
    genre"): the GROUP BY and its columns go, the aggregates stay."""
    yield sketch
    tree = sketch.tree
    if not isinstance(tree, exp.Select) or tree.args.get("group") is None or _GROUP_CUE.search(q.text):
        return
    if tree.args.get("having") is not None or tree.args.get("order") is not None:
        return  # "which genre has the most …" names a group: not this edit
    aggregates = [e for e in tree.expressions if e.find(*_AGGREGATES) is not None]
    if not aggregates or len(aggregates) == len(tree.expressions):
        return
    variant = sketch.copy()
    grouped = variant.tree.args["group"].sql(dialect="sqlite")
    variant.tree.set("expressions", [e for e in variant.tree.expressions if e.find(*_AGGREGATES) is not None])
    variant.tree.set("group", None)
    variant.edits.append(Edit("grouping", grouped, ""))
    yield variant


def _swap_columns(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    """A projected, aggregated or ordered column the question does not name → a named same-typed one."""
    yield sketch
    tables = _tables(sketch.tree)
    used = {c.name for c in sketch.tree.find_all(exp.Column)}
    for col in sketch.tree.find_all(exp.Column):
        if col.find_ancestor(exp.Where, exp.Join, exp.Group, exp.Having) is not None or q.names(col.name) > 0:
            continue
        table = _column_table(col, tables, vocabulary)
        declared = _declared(vocabulary, table, col.name) if table else None
        if table is None or declared is None:
            continue
        options = [
            (q.names(c), c) for c, d in vocabulary.table_columns.get(table, ())
            if c not in used and _is_numeric(d) == _is_numeric(declared) and q.names(c) > 0 and not c.lower().endswith("_id")
        ]
        for _, name in sorted(options, reverse=True)[:2]:
            variant = sketch.copy()
            for other in list(variant.tree.find_all(exp.Column)):
                if other.name == col.name and other.table == col.table and other.find_ancestor(exp.Where, exp.Join, exp.Group, exp.Having) is None:
                    other.set("this", _column(name, None).this)
            variant.edits.append(Edit("column", col.name, name))
            yield variant


def _fill_values(sketch: _Sketch, q: _Question, vocabulary: Vocabulary) -> Iterator[_Sketch]:
    """Literals the question does not mention → its numbers, quoted strings and cell values (or the
    condition dropped); then mentioned values still unused → new conditions."""
    variant = sketch.copy()
    tree = variant.tree
    tables = _tables(tree)
    sql_text = sketch.sql().lower()
    numbers = [n for n in q.numbers if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", sql_text)]
    strings = [(v, where) for v, where in q.values if f"'{v.lower()}'" not in sql_text.replace("''", "'")]
    strings += [(s, ()) for s in q.quoted if f"'{s.lower()}'" not in sql_text]
    droppable: list[exp.Expression] = []
    for literal in list(tree.find_all(exp.Literal)):
        if _in_limit(literal) or q.mentions(literal.this):
            continue
        column = _compared_column(literal)
        if literal.is_number:
            if numbers:
                new = numbers.pop(0)
                variant.edits.append(Edit("value", literal.this, new))
                literal.replace(exp.Literal.number(new))
            elif column is not None and (term := _conjunct(literal)) is not None:
                droppable.append(term)
            continue
        table = _column_table(column, tables, vocabulary) if column is not None else None
        choice = None
        for i, (value, where) in enumerate(strings):
            if table is not None and (table, column.name) in where:
                choice = (i, value, None)
                break
            if not where and column is not None:
                choice = (i, value, None)
                break
            other = next(((t, c) for t, c in where if t == table), None) if table is not None else None
            if other is not None and choice is None:
                choice = (i, value, other[1])
        if choice is not None:
            i, value, new_column = choice
            strings.pop(i)
            if new_column is not None and column is not None:
                variant.edits.append(Edit("column", column.name, new_column))
                column.set("this", _column(new_column, None).this)
            variant.edits.append(Edit("value", f"'{literal.this}'", f"'{value}'"))
            literal.replace(exp.Literal.string(value))
        elif column is not None and (term := _conjunct(literal)) is not None:
            droppable.append(term)
    # mentioned values no condition uses yet: a new condition on the column they were found in
    for value, where in strings:
        target = next(((alias, c) for t, c in where for alias, name in tables.items() if name == t), None)
        if target is None or not isinstance(tree, exp.Select):
            continue
        alias, name = target
        qualifier = alias if len(tables) > 1 else None
        tree.where(exp.EQ(this=_column(name, qualifier), expression=exp.Literal.string(value)), copy=False)
        variant.edits.append(Edit("filter", "", f"{name} = '{value}'"))
    for number in numbers:
        condition = _numeric_condition(q, number, tree, tables, vocabulary)
        if condition is not None and isinstance(tree, exp.Select):
            tree.where(condition, copy=False)
            variant.edits.append(Edit("filter", "", condition.sql(dialect="sqlite")))
    yield variant if variant.edits != sketch.edits else sketch
    if droppable:
        dropped = variant.copy()
        terms = [t for t in dropped.tree.find_all(exp.Expression) if any(t == d for d in droppable)]
        for term in terms:
            if term.parent is not None:
                before = term.sql(dialect="sqlite")
                _drop_conjunct(term)
                dropped.edits.append(Edit("filter", before, ""))
        if dropped.edits != variant.edits:
            yield dropped


def _numeric_condition(q: _Question, number: str, tree: exp.Expression, tables: dict[str, str], vocabulary: Vocabulary) -> exp.Expression | None:
    """"more than 500" with a named numeric column of a table the query reads → `column > 500`."""
    position = re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", q.text)
    if position is None:
        return None
    before = q.text[max(0, position.start() - 40) : position.start()]
    operator = None
    for pattern, op in _COMPARISONS:
        matches = list(pattern.finditer(before))
        if matches and (operator is None or matches[-1].end() > operator[0]):
            operator = (matches[-1].end(), op)
    if operator is None:
        return None
    compared = {c.name for c in tree.find_all(exp.Column) if c.find_ancestor(exp.Where) is not None}
    options = sorted(
        ((q.names(c), alias, c) for alias, t in tables.items() for c, d in vocabulary.table_columns.get(t, ())
         if _is_numeric(d) and q.names(c) > 0 and c not in compared and not c.lower().endswith("id")),
        reverse=True,
    )
    if not options or (len(options) > 1 and options[0][0] == options[1][0]):
        return None
    _, alias, name = options[0]
    return operator[1](this=_column(name, alias if len(tables) > 1 else None), expression=exp.Literal.number(number))


STEPS = (_swap_table, _fix_grouping, _swap_aggregate, _fix_order, _swap_columns, _fill_values)


# --- search and scoring ----------------------------------------------------------------------------


def candidates(question: str, sql: str, vocabulary: Vocabulary, *, limit: int = 16) -> list[tuple[str, tuple[Edit, ...]]]:
    """The sketch `sql` and its adaptations to `question` (SQL, edits), the sketch first; at most `limit`."""
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return [(sql, ())]
    q = _Question.read(question, vocabulary)
    states = [_Sketch(tree)]
    for step in STEPS:
        grown: list[_Sketch] = []
        for state in states:
            try:
                grown.extend(step(state, q, vocabulary))
            except (CodeRagError, ValueError, AttributeError, TypeError, KeyError):
                grown.append(state)  # a sketch this step cannot edit stays as it is
            if len(grown) >= limit:
                break
        states = grown[:limit]
    out: dict[str, tuple[Edit, ...]] = {sql: ()}
    for state in states:
        try:
            text = state.sql()
        except Exception:  # sqlglot's generator on an odd tree: leave that candidate out
            continue
        if state.edits and text not in out:
            out[text] = tuple(state.edits)
    return list(out.items())


def adapt(
    question: str,
    hits: Sequence[Hit],
    database: ReadOnlyDatabase,
    vocabulary: Vocabulary,
    limits: AdaptLimits = AdaptLimits(),
    weights: dict[str, float] | None = None,
) -> Adaptation | None:
    """The best-scored candidate among the top sketches' adaptations (None without hits).

    Candidates are scored by `rag.abstain`'s confidence on their own evidence, then executed best
    first until one gives a result that is not degenerate; the unadapted closest example is always
    among them, so adaptation never answers worse-scored than knn would."""
    if not hits:
        return None
    deadline = time.monotonic() + limits.budget_s
    sketches: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.document.sql not in seen:
            seen.add(hit.document.sql)
            sketches.append(hit)
        if len(sketches) >= limits.sketches:
            break
    scored: list[tuple[float, int, str, tuple[Edit, ...], Hit, Evidence]] = []
    q = _Question.read(question, vocabulary)
    for rank, hit in enumerate(sketches):
        if time.monotonic() > deadline:
            break
        for sql, edits in candidates(question, hit.document.sql, vocabulary, limit=max(2, limits.max_candidates // len(sketches))):
            if rank > 0 and not edits:
                continue  # other sketches only compete through their adaptations
            top = Hit(replace(hit.document, sql=sql), hit.score, hit.rank)
            evidence = gather(question, [top, *[h for h in hits if h is not hit]])
            if evidence is None:
                continue
            scored.append((alignment(q, sql, evidence), -len(edits), sql, edits, hit, evidence))
    scored.sort(key=lambda item: (item[0], item[4].score, item[1]), reverse=True)
    for _, _, sql, edits, hit, evidence in scored[: limits.max_candidates]:
        score = confidence(evidence, weights) if weights else confidence(evidence)
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        if not edits:
            return Adaptation(sql, hit.document.id, (), evidence, score, None, len(scored))
        try:
            result = database.execute(sql, timeout_s=min(remaining, 2.0), max_rows=limits.max_rows)
        except CodeRagError:
            continue
        if _degenerate(result, edits):
            continue
        return Adaptation(sql, hit.document.id, edits, evidence, score, result, len(scored))
    top = hits[0]
    evidence = gather(question, list(hits))
    assert evidence is not None
    return Adaptation(top.document.sql, top.document.id, (), evidence, confidence(evidence, weights) if weights else confidence(evidence), None, len(scored))


def alignment(q: _Question, sql: str, evidence: Evidence) -> float:
    """How well a candidate's SQL fits the question's words: the mean of abstain's agreement signals
    (literals both ways, schema words both ways, wording shape), of the share of the cell values the
    question names that the SQL uses, and of the ORDER/MAX direction. Candidates are ranked by it;
    similarity only breaks ties (it is the same for a sketch's variants)."""
    parts = [evidence.sql_literals, evidence.question_literals, evidence.sql_words, evidence.question_words, evidence.shape]
    if q.values:
        text = sql.lower().replace("''", "'")
        parts.append(sum(f"'{value.lower()}'" in text for value, _ in q.values) / len(q.values))
    direction = _direction(q.text, sql)
    if direction is not None:
        parts.append(direction)
    return sum(parts) / len(parts)


def _direction(question: str, sql: str) -> float | None:
    """1.0 when "highest"/"lowest" wording and the SQL's ORDER BY direction or MAX/MIN agree, 0.0
    when they disagree, None when the question or the SQL has no direction."""
    wants_max, wants_min = bool(_MAX_WORDS.search(question)), bool(_MIN_WORDS.search(question))
    if wants_max == wants_min:
        return None
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return None
    says: set[bool] = set()  # True: the SQL picks the largest
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is not None and tree.args.get("limit") is not None and order.expressions:
        says.add(bool(order.expressions[0].args.get("desc")))
    says |= {isinstance(f, exp.Max) for f in tree.find_all(exp.Max, exp.Min)}
    if len(says) != 1:
        return None
    return 1.0 if says == {wants_max} else 0.0


def _degenerate(result: QueryResult, edits: tuple[Edit, ...]) -> bool:
    """No rows, only NULLs, or (after a value or filter edit) only zeros: not an answer to trust."""
    if not result.rows:
        return True
    cells = [cell for row in result.rows for cell in row]
    if all(cell is None for cell in cells):
        return True
    filtered = any(e.kind in ("value", "filter") for e in edits)
    return filtered and len(result.rows) == 1 and all(cell in (0, None) for cell in cells)
