"""Linking metrics: did the prompt hold what the gold SQL needs?

Per answer (`link_scores`): schema-link recall (every gold table, and every gold column, among the
linked tables the prompt shows), value recall (every gold string literal among the matched values),
and the number of tables linked. `linking_metrics` averages them over a run for metrics.json.

>>> link = {"tables": [{"table": "tracks"}, {"table": "genres"}], "values": [{"value": "Jazz"}]}
>>> columns = {"tracks": ["track_id", "genre_id"], "genres": ["genre_id", "name"]}
>>> link_scores(link, "SELECT COUNT(*) FROM tracks t JOIN genres g ON t.genre_id = g.genre_id WHERE g.name = 'Jazz'", columns)
{'tables': 1.0, 'columns': 1.0, 'values': 1.0, 'linked': 2}
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from sqlglot import exp

from rag.errors import SQLError
from rag.sqltools import parse_sqlite


def gold_parts(sql: str) -> tuple[set[str], set[str], set[str]]:
    """The gold query's table names, column names and string literals (lower-cased names)."""
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return set(), set(), set()
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = {t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() not in ctes}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    columns = {c.name.lower() for c in tree.find_all(exp.Column) if c.name and c.name.lower() not in aliases and c.name != "*"}
    values = {str(lit.this) for lit in tree.find_all(exp.Literal) if lit.is_string and str(lit.this).strip("%")}
    return tables, columns, values


def link_scores(link: dict[str, Any] | None, gold_sql: str, columns_of: dict[str, list[str]]) -> dict[str, Any] | None:
    """Recall of the gold tables, columns and literals in one answer's link (`Answer.link`);
    `columns_of` maps each table to its column names (a column counts when a linked table has it)."""
    if link is None:
        return None
    tables, columns, values = gold_parts(gold_sql)
    linked = [t["table"] for t in link.get("tables", [])]
    shown = {t.lower() for t in linked}
    shown_columns = {c.lower() for t in linked for c in columns_of.get(t, [])}
    matched = {str(v["value"]).lower() for v in link.get("values", [])}
    return {
        "tables": 1.0 if tables <= shown else 0.0,
        "columns": 1.0 if columns <= shown_columns else 0.0,
        "values": 1.0 if {v.strip("%").lower() for v in values} <= matched else 0.0,
        "linked": len(linked),
    }


def linking_metrics(records: list[dict[str, Any]], arm: str = "rag") -> dict[str, Any] | None:
    """Averages of the per-answer link scores and prompt sizes over a run (None when nothing was linked)."""
    scored = [r[arm]["link_scores"] for r in records if r.get(arm, {}).get("link_scores")]
    if not scored:
        return None
    prompts = [r[arm]["prompt_chars"] for r in records if r.get(arm, {}).get("prompt_chars")]
    with_values = [s["values"] for s, r in zip(scored, records) if s is not None]
    return {
        "n": len(scored),
        "table_recall": round(mean(s["tables"] for s in scored), 4),
        "column_recall": round(mean(s["columns"] for s in scored), 4),
        "value_recall": round(mean(with_values), 4) if with_values else None,
        "tables_linked": round(mean(s["linked"] for s in scored), 2),
        "prompt_chars": round(mean(prompts), 1) if prompts else None,
        "composed": sum(1 for r in records if r.get(arm, {}).get("composed")),
    }
