"""Check the schema-linking questions against their fixture databases, and derive their gold schema elements.

    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/data/linking/check.py           # check only
    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/data/linking/check.py --write   # also rewrite the file

Builds the three fixture databases (`tests/fixtures/linking/databases.py`) in a temporary folder and,
for every question in `questions.jsonl` beside this file:

- the split follows the fixed rule (within each database, in file order: even positions calibration,
  odd positions heldout);
- an `ORDER BY ... LIMIT k` gold has no tie between its k-th and (k+1)-th rows (a unique answer);
- an answerable question's gold SQL runs and returns at least one row that is not empty (not a lone
  NULL or zero); an unanswerable one has `"sql": null` and no tables, columns or values;
- the gold SQL gives the same rows on the 300-table mix of `tests/fixtures/linking/large.py`;
- `tables` and `columns` equal those the gold SQL uses (sqlglot's `qualify` resolves every column to
  its table), written into the file with `--write`;
- `values` equal the strings the gold SQL compares a column with (`=`, `<>`, `IN`), and each is
  stored in that very column (so a misspelled question's gold holds the stored spelling).

Exits 1 with one line per problem; prints the question counts per kind and split.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from tests.fixtures.linking.databases import build_all
from tests.fixtures.linking.large import make_large

QUESTIONS = Path(__file__).with_name("questions.jsonl")
FIELDS = ["db", "question", "sql", "split", "kind", "tables", "columns", "values"]


def split_for(position: int) -> str:
    """The split rule, fixed before any question was written: alternate within each database."""
    return "calibration" if position % 2 == 0 else "heldout"


def schema_of(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: {r[1]: r[2] or "TEXT" for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}


def gold_elements(sql: str, schema: dict[str, dict[str, str]]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """The tables and `table.column` pairs the SQL reads, every column resolved to its table, and the
    (`table.column`, string) pairs where the SQL compares a column with a string (=, <>, IN)."""
    tree = qualify(sqlglot.parse_one(sql, read="sqlite"), schema=schema, dialect="sqlite", quote_identifiers=False, identify=False)
    lower = {t.lower(): t for t in schema}
    tables, columns, compared = set(), set(), set()
    for scope in traverse_scope(tree):
        for table in scope.tables:
            tables.add(lower[table.name.lower()])
        resolved: dict[int, str] = {}
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                table = lower[source.name.lower()]
                stored = {c.lower(): c for c in schema[table]}
                resolved[id(column)] = f"{table}.{stored[column.name.lower()]}"
                columns.add(resolved[id(column)])
        for node in scope.expression.find_all(exp.EQ, exp.NEQ, exp.In):
            sides = [node.this, *node.expressions] if isinstance(node, exp.In) else [node.this, node.expression]
            targets = [resolved[id(side)] for side in sides if id(side) in resolved]
            strings = [side.this for side in sides if isinstance(side, exp.Literal) and side.is_string]
            compared |= {(target, value) for target in targets for value in strings}
    return sorted(tables), sorted(columns), sorted(compared)


def tie_at_limit(sql: str, conn: sqlite3.Connection) -> bool:
    """Whether an `ORDER BY ... LIMIT k` query's k-th and (k+1)-th rows tie on the ordering keys, so
    that its gold answer would depend on the engine's row order."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    limit, order = tree.args.get("limit"), tree.args.get("order")
    if not isinstance(tree, exp.Select) or limit is None or order is None:
        return False
    k = int(limit.expression.name)
    probe = tree.copy()
    aliases = {projection.alias: i for i, projection in enumerate(probe.expressions) if projection.alias}
    width = len(probe.expressions)
    keys = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and not key.table and key.name in aliases:
            keys.append(aliases[key.name])
        else:
            probe = probe.select(key.copy())
            keys.append(width + len(keys))
    probe = probe.limit(k + 1)
    result = conn.execute(probe.sql(dialect="sqlite")).fetchall()
    return len(result) > k and [result[k - 1][i] for i in keys] == [result[k][i] for i in keys]


def check(rows: list[dict], paths: dict[str, Path], large: Path, show: bool) -> list[str]:
    problems: list[str] = []
    mixed = sqlite3.connect(f"file:{large}?mode=ro", uri=True)
    position: Counter[str] = Counter()
    seen: set[str] = set()
    conns = {name: sqlite3.connect(f"file:{p}?mode=ro", uri=True) for name, p in paths.items()}
    schemas = {name: schema_of(c) for name, c in conns.items()}
    for n, row in enumerate(rows, 1):
        where = f"line {n} ({row.get('question')!r})"
        if row.get("db") not in conns:
            problems.append(f"{where}: unknown db {row.get('db')!r}")
            continue
        if row["question"].lower() in seen:
            problems.append(f"{where}: duplicate question")
        seen.add(row["question"].lower())
        expected_split = split_for(position[row["db"]])
        position[row["db"]] += 1
        if row.get("split") != expected_split:
            problems.append(f"{where}: split {row.get('split')!r}, the rule says {expected_split!r}")
        if row["sql"] is None:
            if row["kind"] != "unanswerable" or row["tables"] or row["columns"] or row["values"]:
                problems.append(f"{where}: a question without SQL must be kind unanswerable with nothing linked")
            continue
        conn = conns[row["db"]]
        try:
            result = conn.execute(row["sql"]).fetchall()
        except sqlite3.Error as error:
            problems.append(f"{where}: {error}")
            continue
        if not result or result in ([(None,)], [(0,)]):
            problems.append(f"{where}: empty result {result!r}")
        if sorted(map(repr, mixed.execute(row["sql"]).fetchall())) != sorted(map(repr, result)):
            problems.append(f"{where}: the gold SQL answers differently on the 300-table mix")
        if tie_at_limit(row["sql"], conn):
            problems.append(f"{where}: rows tie at the LIMIT, so the gold answer is not unique")
        if show:
            print(f"[{row['db']}/{row['kind']}] {row['question']}\n    {row['sql']}\n    -> {len(result)} rows: {result[:4]}")
        tables, columns, compared = gold_elements(row["sql"], schemas[row["db"]])
        values = sorted({value for _, value in compared})
        if "tables" in row and (row["tables"], row["columns"], row["values"]) != (tables, columns, values):
            problems.append(f"{where}: tables/columns/values differ from the SQL's: {tables} {columns} {values}")
        row["tables"], row["columns"], row["values"] = tables, columns, values
        for target, value in compared:
            table, column = target.split(".", 1)
            if not conn.execute(f'SELECT 1 FROM "{table}" WHERE "{column}" = ? LIMIT 1', (value,)).fetchone():
                problems.append(f"{where}: value {value!r} is not stored in {target}")
    for conn in [*conns.values(), mixed]:
        conn.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite questions.jsonl with split, tables and columns")
    parser.add_argument("--show", action="store_true", help="print every question with its SQL and first rows")
    args = parser.parse_args()
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.write:
        position: Counter[str] = Counter()
        for row in rows:
            row["split"] = split_for(position[row["db"]])
            position[row["db"]] += 1
            for derived in ("tables", "columns", "values"):
                row.pop(derived, None)
            if row["sql"] is None:
                row["tables"], row["columns"], row["values"] = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        problems = check(rows, build_all(Path(tmp)), make_large(Path(tmp) / "large300.sqlite", 300), args.show)
    if args.write:
        text = "".join(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n" for row in rows)
        QUESTIONS.write_text(text, encoding="utf-8")
    counts = Counter((row["kind"], row["split"]) for row in rows)
    kinds = sorted({k for k, _ in counts})
    print(f"{'kind':<22}{'calibration':>12}{'heldout':>9}")
    for kind in kinds:
        print(f"{kind:<22}{counts[(kind, 'calibration')]:>12}{counts[(kind, 'heldout')]:>9}")
    by_db = Counter((row["db"], row["split"]) for row in rows)
    for db in sorted({row["db"] for row in rows}):
        print(f"{db:<22}{by_db[(db, 'calibration')]:>12}{by_db[(db, 'heldout')]:>9}")
    print(f"{'total':<22}{sum(1 for r in rows if r['split'] == 'calibration'):>12}{sum(1 for r in rows if r['split'] == 'heldout'):>9}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(rows)} questions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
