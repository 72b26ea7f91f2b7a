"""Describing SQL in words: comparison and aggregate names, columns, filter conditions.

>>> from synth.sql.syntax import parse_query
>>> describe_condition(parse_query("SELECT 1 FROM t WHERE city = 'Springfield'").find(exp.EQ))
"the condition that city is equal to 'Springfield'"
>>> describe_condition(parse_query("SELECT 1 FROM t WHERE a NOT IN (1, 2)").find(exp.Not))
'the condition that a is not in 1, 2'
"""

from __future__ import annotations

from sqlglot import exp

OPS: dict[type, str] = {
    exp.EQ: "equal to",
    exp.NEQ: "not equal to",
    exp.GT: "greater than",
    exp.GTE: "at least",
    exp.LT: "less than",
    exp.LTE: "at most",
}
FLIPPED: dict[type, type] = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LT, exp.LTE: exp.GT}
AGGREGATES: dict[type, tuple[str, str]] = {
    exp.Avg: ("AVG", "average"),
    exp.Sum: ("SUM", "total"),
    exp.Max: ("MAX", "maximum"),
    exp.Min: ("MIN", "minimum"),
}
SWAPPED: dict[type, type] = {exp.Avg: exp.Sum, exp.Sum: exp.Avg, exp.Max: exp.Min, exp.Min: exp.Max}
ALTERNATIVES: dict[type, tuple[type, type]] = {
    exp.Avg: (exp.Max, exp.Min),
    exp.Sum: (exp.Avg, exp.Max),
    exp.Max: (exp.Min, exp.Avg),
    exp.Min: (exp.Max, exp.Avg),
}
ALIAS_WORDS: dict[type, str] = {exp.Avg: "avg", exp.Sum: "total", exp.Max: "max", exp.Min: "min"}


def words(node: exp.Expression) -> str:
    """A short human rendering: a column by its name, a subquery as 'the subquery's result', else SQL."""
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, (exp.Subquery, exp.Select)):
        return "the subquery's result"
    if isinstance(node, exp.Paren):
        return words(node.this)
    return node.sql("sqlite")


def rows(n: int) -> str:
    """'1 row', '2 rows'."""
    return f"{n} row" if n == 1 else f"{n} rows"


def describe_condition(cond: exp.Expression) -> str:
    """A noun phrase for a filter: "the condition that city is equal to 'Springfield'" and friends."""
    if isinstance(cond, exp.Not) and isinstance(cond.this, (exp.In, exp.Like, exp.Between, exp.Exists)):
        inner = describe_condition(cond.this)
        if inner.startswith("the condition that "):
            subject, _, rest = inner.removeprefix("the condition that ").partition(" is ")
            if rest:
                return f"the condition that {subject} is not {rest}"
            if subject.startswith("a matching row exists"):
                return "the condition that no matching row exists in the subquery"
    that = _condition_clause(cond)
    return f"the condition that {that}" if that else "one of its filter conditions"


def _condition_clause(cond: exp.Expression) -> str:
    if type(cond) in OPS:
        return f"{words(cond.this)} is {OPS[type(cond)]} {words(cond.expression)}"
    if isinstance(cond, exp.Like):
        return f"{words(cond.this)} is like {words(cond.expression)}"
    if isinstance(cond, exp.Between):
        return f"{words(cond.this)} is between {words(cond.args['low'])} and {words(cond.args['high'])}"
    if isinstance(cond, exp.In):
        target = "the subquery's result" if cond.args.get("query") else ", ".join(words(e) for e in cond.expressions)
        return f"{words(cond.this)} is in {target}"
    if isinstance(cond, exp.Is):
        return f"{words(cond.this)} is NULL"
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is):
        return f"{words(cond.this.this)} is not NULL"
    if isinstance(cond, exp.Exists):
        return "a matching row exists in the subquery"
    return ""
