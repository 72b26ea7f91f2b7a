"""When a synthesized query's result is worth keeping, and when two results are the same.

A result is degenerate when it says nothing a question could ask for: no rows, a column that
is all NULL, a count of zero, a constant column, or aggregates equal in every group. Some
degeneracy only shows against the data, so a query also gets probes (small `LIMIT 1`/`LIMIT k+1`
queries built from its own AST) that must find something:

- a WHERE must drop some row (`… WHERE NOT COALESCE(<where>, 0) LIMIT 1` finds one);
- a HAVING must drop some group;
- `ORDER BY … LIMIT k` must leave rows out, and the k-th and (k+1)-th must not tie;
- UNION / INTERSECT must differ from either side; EXCEPT must remove something.

Equal results (`rag.execution.results_match`, the one definition of "same result") are found
through a cheap key first (`result_key`); see `synth.grounded.synthesize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from rag.sandbox import QueryResult
from rag.words import format_number

Probe = tuple[str, exp.Expression]  # (rejection reason if the probe finds nothing, probe query)


def degenerate(result: QueryResult, tree: exp.Expression) -> str | None:
    """Why the result is not worth an example, or None when it is."""
    rows = result.rows
    if not rows:
        return "empty"
    width = len(result.columns)
    if any(all(row[i] is None for row in rows) for i in range(width)):
        return "null_column"
    if len(rows) == 1 and all(v is None or v == 0 for v in rows[0]):
        return "zero"
    if len(rows) == 1 and tree.args.get("order") is not None and tree.args.get("limit") is None:
        return "sorted_one_row"
    if len(rows) > 1 and isinstance(tree, exp.Select):
        aggregated = [i for i, p in enumerate(tree.expressions) if p.find(exp.AggFunc)]
        constant = [i for i in range(width) if len({_norm(row[i]) for row in rows}) == 1]
        if tree.args.get("group") and aggregated and all(i in constant for i in aggregated):
            return "constant_aggregate"
        if not aggregated and len(constant) == width:
            return "constant"
    return None


def probes(tree: exp.Expression) -> list[Probe]:
    """Queries that must each return a row for `tree`'s result to be non-degenerate."""
    if isinstance(tree, exp.Select):
        return _select_probes(tree)
    if isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
        left, right = tree.this, tree.expression
        if isinstance(tree, exp.Except):
            return [("except_removes_nothing", exp.intersect(left.copy(), right.copy()).limit(1))]
        return [
            ("set_same_as_side", exp.except_(left.copy(), right.copy()).limit(1)),
            ("set_same_as_side", exp.except_(right.copy(), left.copy()).limit(1)),
        ]
    return []


def _bare(select: exp.Select) -> exp.Select:
    """The SELECT's FROM and JOINs only, projecting 1."""
    probe = select.copy()
    for key in ("distinct", "group", "having", "order", "limit", "offset", "where"):
        probe.set(key, None)
    probe.set("expressions", [exp.Literal.number(1)])
    return probe


def _dropped(condition: exp.Expression) -> exp.Expression:
    """Rows the condition filters out: false or NULL."""
    return exp.Not(this=exp.Coalesce(this=condition.copy(), expressions=[exp.false()]))  # FALSE, not 0: PostgreSQL needs a boolean


def _select_probes(select: exp.Select) -> list[Probe]:
    found: list[Probe] = []
    where = select.args.get("where")
    if where is not None:
        found.append(("filter_keeps_all", _bare(select).where(_dropped(where.this)).limit(1)))
    having = select.args.get("having")
    if having is not None:
        probe = _bare(select)
        probe.set("where", where.copy() if where is not None else None)
        probe.set("group", select.args["group"].copy())
        found.append(("having_keeps_all", probe.having(_dropped(having.this)).limit(1)))
    return found


def limit_probe(select: exp.Expression) -> tuple[exp.Select, int] | None:
    """For `ORDER BY … LIMIT k`: the sort keys of the first k + 1 rows (to see that the limit
    leaves rows out and that the k-th row does not tie with the next), and k."""
    if not isinstance(select, exp.Select) or select.args.get("order") is None or select.args.get("limit") is None:
        return None
    limit = select.args["limit"].expression
    if not isinstance(limit, exp.Literal) or not limit.is_int:
        return None
    k = int(limit.this)
    probe = select.copy()
    probe.set("distinct", None)
    probe.set("expressions", [o.this.copy() for o in select.args["order"].expressions])
    return probe.limit(k + 1), k


def limit_degenerate(keys: Sequence[tuple[Any, ...]], k: int) -> str | None:
    """'limit_keeps_all' when there are no more than k rows, 'tie' when row k ties with row k+1."""
    if len(keys) <= k:
        return "limit_keeps_all"
    if tuple(map(_norm, keys[k - 1])) == tuple(map(_norm, keys[k])):
        return "tie"
    return None


def mentioned_values(tree: exp.Expression) -> list[str]:
    """The values a question about `tree` must mention, as questions write them: strings (a LIKE
    pattern without its %), numbers; not LIMITs, the 0/1 a flag is compared with, or strftime's
    format. Questions are checked against these, the synthesized ones and an LLM's paraphrases.

    >>> from synth.sql.syntax import parse_query
    >>> mentioned_values(parse_query("SELECT a FROM t WHERE b LIKE 'Ro%' AND c > 2.50 AND d = 1 LIMIT 3"))
    ['Ro', '2.5']
    """
    found = []
    for node in tree.find_all(exp.Literal):
        if isinstance(node.parent, exp.Limit) or node.this == "%Y":
            continue
        if not node.is_string and node.this in ("0", "1") and isinstance(node.parent, exp.EQ):
            continue
        found.append(node.this.strip("%") if node.is_string else format_number(float(node.this)))
    return found


def _norm(value: Any) -> Any:
    """A hashable stand-in that equal values share (3 and 3.0 alike; numbers to 6 digits)."""
    if isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, (int, float)):
        return (1, float(f"{value:.6g}"))
    if value is None:
        return (0, 0)
    return (2, type(value).__name__, value)


def result_key(result: QueryResult) -> tuple[int, int, int]:
    """A cheap key that equal results (`results_match`, in any row order) share."""
    rows = sorted(tuple(_norm(v) for v in row) for row in result.rows)
    return len(result.columns), len(rows), hash(tuple(rows))
