"""Checks of an SQL against what the question names (rag.compose, rag.chain): a grouping it leaves
out, a named table it does not read, a column it only echoes, the linked words it does not use,
and the share of the question it accounts for."""

from __future__ import annotations

import re

from rag.compose_query import Query, literal, quote
from rag.compose_words import GROUPING
from rag.linked import Link
from rag.reading import IGNORED_WORDS, name_stems, phrase_stems


def grouping_gap(sql: str | None, link: Link) -> str | None:
    """What a stored answer's GROUP BY leaves out of "per X" / "each X and Y": a grouping by a key
    column (an id, where the question wants the name) or fewer groupings than the question asks
    for. None when it groups as asked, or the question asks for no grouping."""
    import sqlglot
    from sqlglot import exp

    asked = [w for m in GROUPING.finditer(link.reading.text) for w in re.split(r"\s+(?:and|&)\s+|,\s*", m.group(1)) if name_stems(w)]
    if not sql or not (asked or re.search(r"\b(?:per|each|every|by)\s+[^\W\d_]", link.reading.text, re.IGNORECASE)):
        return None
    try:
        tree = sqlglot.parse_one(sql)
    except sqlglot.errors.ParseError:
        return None
    group = tree.args.get("group") if isinstance(tree, exp.Select) else None
    if group is None:
        return None
    keys = {c.name.lower() for t in link.schema.tables for c in t.columns if c.kind == "key"}
    grouped = [c.name for e in group.expressions for c in e.find_all(exp.Column)]
    named = [c for c in grouped if c.lower() not in keys]
    if grouped and not named:
        return f"it groups by the key {grouped[0]}, not a name"
    if len(named) < len(asked):
        return f"it groups by {len(named)} of the {len(asked)} groupings asked for ({', '.join(asked)})"
    return None


def reads_named_table(sql: str | None, link: Link) -> bool:
    """Whether an SQL reads at least one table the question names (a stored example about other
    tables is no evidence for this question)."""
    import sqlglot
    from sqlglot import exp

    if not sql:
        return False
    try:
        read = {t.name.lower() for t in sqlglot.parse_one(sql).find_all(exp.Table)}
    except sqlglot.errors.ParseError:
        return False
    return bool(read & {t.lower() for t in link.named_tables})


def echoes_filter(sql: str, q: Query) -> bool:
    """Whether every selected column is one the query filters on by equality (it would only repeat
    the value the question gave)."""
    head = sql.split(" FROM ", 1)[0].removeprefix("SELECT ").removeprefix("DISTINCT ")
    selected = [c.strip() for c in head.split(", ")]
    equal = {w.split(" = ", 1)[0] for w in q.where if " = " in w}
    return bool(selected) and all(c in equal for c in selected)


def sql_words(link: Link, q: Query, sql: str) -> set[str]:
    """Question stems the SQL itself accounts for: the tables it reads, the columns it names, the
    values and units it compares."""
    out: set[str] = set()
    for table, alias in q.aliases.items():
        out.update(link.words_of(table))
        for column in link.schema.table(table).columns:
            if f"{alias}.{quote(column.name)}" in sql:
                out.update(name_stems(column.name))
    for value in link.values:
        if literal(value.value) in sql:
            out.update(phrase_stems(value.phrase))
    for unit in link.units:
        if literal(unit.value) in sql:
            out.update(phrase_stems(unit.said))
    return out


def unused_words(link: Link, used: set[str]) -> list[str]:
    """Question words a linked table, column or value claims, which the SQL does not use (`used`: the
    stems it accounts for, `sql_words` and the shape's own): "films rated R" answered by every film
    leaves "rated" (films.age_rating) out."""
    claimed: set[str] = set()
    for table in link.named_tables:  # the tables the question names (the rest are the retriever's picks for a prompt)
        claimed.update(link.words_of(table))
    for c in link.columns:
        if c.column and c.score >= 0.5 and c.table in link.named_tables:
            claimed.update(name_stems(c.column))
    for v in link.values:
        if v.score >= 0.5:
            claimed.update(phrase_stems(v.phrase))
    out = []
    for word, stem in zip(link.reading.words, link.reading.stems):
        lower = word.lower()
        if stem in claimed and stem not in used and not {stem, lower} & IGNORED_WORDS and not stem.isdigit() and len(stem) > 1:
            out.append(stem)
    return list(dict.fromkeys(out))


def _compound_qualifiers(link: Link) -> set[str]:
    """Named tables whose word sits right before another named table's word ("film categories"):
    they qualify that noun, and an answer about it need not read them."""
    stems = link.reading.stems
    out = set()
    for table in link.named_tables:
        own = link.words_of(table)
        for i, stem in enumerate(stems[:-1]):
            if stem in own and any(stems[i + 1] in link.words_of(t) for t in link.named_tables if t != table):
                out.add(table)
    return out


def coverage_of(link: Link, q: Query, used: list[str], missed: list[str], explained: set[str]) -> float:
    """The share of the question's parts this SQL accounts for: the named tables it reads (or whose
    every naming word it accounts for otherwise: "bikes in repair" filtered on the value 'in repair'
    need not read a `repairs` table), the linked values and numbers it compares, and the content
    words left unlinked count against it. `explained`: the question stems the SQL accounts for."""
    named = link.named_tables
    qualifiers = _compound_qualifiers(link)
    read = sum(1 for t in named if t in q.aliases or t in qualifiers or (said := _named_by(link, t)) and said <= explained)
    parts = len(named) + len(missed) + len([w for w in link.unlinked if w not in explained])
    if parts == 0:
        return 0.0
    return read / parts


def _named_by(link: Link, table: str) -> set[str]:
    """The question's stems that name `table`: its name's words, its linked columns' and values' words."""
    own = set(link.words_of(table))
    for c in link.columns:
        if c.table == table and c.column:
            own.update(name_stems(c.column))
    for v in link.values:
        if v.table == table:
            own.update(phrase_stems(v.phrase))
    return {s for s in link.reading.stems if s in own}
