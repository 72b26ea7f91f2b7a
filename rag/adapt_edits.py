"""The edit steps of retrieve-then-adapt (rag.adapt): each turns one sketch (a stored example's
parsed SQL) into its variants fitted to the question, itself first, on the AST.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlglot import exp

from rag.adapt_question import AGGREGATE_CUES, COMPARISONS, MAX_WORDS, MIN_WORDS, Question, is_numeric
from rag.masking import Vocabulary


@dataclass(frozen=True)
class Edit:
    """One change to a sketch: its kind and what it replaced with what."""

    kind: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.before} → {self.after}"


# --- the sketch's parts --------------------------------------------------------------------------


@dataclass
class Sketch:
    """A stored example's parsed SQL and the edits made to it so far."""

    tree: exp.Expression
    edits: list[Edit] = field(default_factory=list)

    def copy(self) -> Sketch:
        return Sketch(self.tree.copy(), list(self.edits))

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
    while (
        isinstance(term.parent, exp.Expression)  # not None (every parsed node is an Expression)
        and term.parent is not where
        and not (isinstance(term.parent, exp.And) and _top_and(term.parent, where))
    ):
        term = term.parent
    return term if term.parent is where or isinstance(term.parent, exp.And) else None


def _top_and(node: exp.Expression, where: exp.Where) -> bool:
    while isinstance(node, exp.And):
        if node.parent is where:
            return True
        if not isinstance(node.parent, exp.Expression):
            return False
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


def _swap_table(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
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
            if is_numeric(declared):
                break
            texts = [c for c, d in columns if not is_numeric(d) and not c.lower().endswith("id")]
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
                    col.set(
                        "this", exp.to_identifier(mapping[col.name], quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", mapping[col.name]))
                    )
            variant.edits.append(Edit("table", old, new))
            yield variant


def _swap_aggregate(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
    wanted: type[exp.Expression] | None = None
    for kind, cue in AGGREGATE_CUES:
        if cue.search(q.text):
            wanted = kind
            break
    if wanted is None and not re.search(r"\bhow many\b|\bnumber of\b", q.text, re.I):
        if MAX_WORDS.search(q.text) and not MIN_WORDS.search(q.text):
            wanted = exp.Max
        elif MIN_WORDS.search(q.text) and not MAX_WORDS.search(q.text):
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


def _fix_order(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
    tree = sketch.tree
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    if order is None or limit is None or len(order.expressions) != 1:
        yield sketch
        return
    variant = sketch.copy()
    ordered = variant.tree.args["order"].expressions[0]
    descending = bool(ordered.args.get("desc"))
    wants_max = bool(MAX_WORDS.search(q.text)) and not MIN_WORDS.search(q.text)
    wants_min = bool(MIN_WORDS.search(q.text)) and not MAX_WORDS.search(q.text)
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


def _fix_grouping(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
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


def _swap_columns(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
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
            (q.names(c), c)
            for c, d in vocabulary.table_columns.get(table, ())
            if c not in used and is_numeric(d) == is_numeric(declared) and q.names(c) > 0 and not c.lower().endswith("_id")
        ]
        for _, name in sorted(options, reverse=True)[:2]:
            variant = sketch.copy()
            for other in list(variant.tree.find_all(exp.Column)):
                if (
                    other.name == col.name
                    and other.table == col.table
                    and other.find_ancestor(exp.Where, exp.Join, exp.Group, exp.Having) is None
                ):
                    other.set("this", _column(name, None).this)
            variant.edits.append(Edit("column", col.name, name))
            yield variant


def _fill_values(sketch: Sketch, q: Question, vocabulary: Vocabulary) -> Iterator[Sketch]:
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
        choice: tuple[int, str, str | None] | None = None
        for i, (value, where) in enumerate(strings):
            if table is not None and column is not None and (table, column.name) in where:
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


def _numeric_condition(
    q: Question, number: str, tree: exp.Expression, tables: dict[str, str], vocabulary: Vocabulary
) -> exp.Expression | None:
    """ "more than 500" with a named numeric column of a table the query reads → `column > 500`."""
    position = re.search(rf"(?<![\w.]){re.escape(number)}(?![\w.])", q.text)
    if position is None:
        return None
    before = q.text[max(0, position.start() - 40) : position.start()]
    operator = None
    for pattern, op in COMPARISONS:
        matches = list(pattern.finditer(before))
        if matches and (operator is None or matches[-1].end() > operator[0]):
            operator = (matches[-1].end(), op)
    if operator is None:
        return None
    compared = {c.name for c in tree.find_all(exp.Column) if c.find_ancestor(exp.Where) is not None}
    options = sorted(
        (
            (q.names(c), alias, c)
            for alias, t in tables.items()
            for c, d in vocabulary.table_columns.get(t, ())
            if is_numeric(d) and q.names(c) > 0 and c not in compared and not c.lower().endswith("id")
        ),
        reverse=True,
    )
    if not options or (len(options) > 1 and options[0][0] == options[1][0]):
        return None
    _, alias, name = options[0]
    return operator[1](this=_column(name, alias if len(tables) > 1 else None), expression=exp.Literal.number(number))


STEPS = (_swap_table, _fix_grouping, _swap_aggregate, _fix_order, _swap_columns, _fill_values)
