"""Which corpus examples are relevant to a test question, for the retrieval metrics.

A train example is relevant to a test question when either
- its SQL is execution-equivalent on the test question's database (same result as the gold
  query under EX's comparison; an error or timeout is not equivalent, and a gold query with an
  empty result makes nothing equivalent, since too much returns nothing), or
- it has the same SQL skeleton (`sql_skeleton`: keywords, operators and function names kept,
  identifiers masked as `_` and literal values as `?`, aliases dropped).

Relevance does not depend on the embedder or the document template, so it is computed once per
corpus and kept in a JSON cache under `settings.home/eval/relevance/`: the train examples'
skeletons and the tables/columns they reference, and per test question its skeleton and the
execution-equivalent train ids. Running a train query is skipped when it names a table or
column the test database lacks (it would fail anyway), which keeps large corpora cheap.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType
from tqdm.auto import tqdm

from eval.scoring import Scorer
from rag.corpus import Example, fingerprint
from rag.errors import DataError, SQLError
from rag.execution import DatabaseSource, results_match
from rag.io import write_json_atomic
from rag.sqltools import parse_sqlite

RELEVANCE_VERSION = 1
EQUIVALENCE_TIMEOUT_S = 1.0


def _mask(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Column):
        return exp.column("_")
    if isinstance(node, exp.Table):
        return exp.table_("_")
    if isinstance(node, exp.Literal):
        return exp.Placeholder()
    if isinstance(node, exp.Identifier):
        return exp.to_identifier("_")
    return node


def sql_skeleton(sql: str) -> str:
    """The query's shape without names or values.

    >>> sql_skeleton("SELECT b.title AS t, COUNT(*) FROM books b WHERE b.price > 10 ORDER BY t DESC LIMIT 3")
    'SELECT _, COUNT(*) FROM _ WHERE _ > ? ORDER BY _ DESC LIMIT ?'
    >>> sql_skeleton("select name, count(*) from authors where country = 'UK' order by name desc limit 5")
    'SELECT _, COUNT(*) FROM _ WHERE _ = ? ORDER BY _ DESC LIMIT ?'
    """
    try:
        return _tree_skeleton(parse_sqlite(sql))
    except (SQLError, SqlglotError):
        return _token_skeleton(sql)


def _tree_skeleton(tree: exp.Expression) -> str:
    """Skeleton of a parsed query (drops its aliases in place)."""
    for alias in list(tree.find_all(exp.Alias)):
        alias.replace(alias.this)
    return tree.transform(_mask).sql(dialect="sqlite")


def _token_skeleton(sql: str) -> str:
    """The tokenizer's version for SQL that sqlglot cannot parse."""
    try:
        tokens = SQLite().tokenize(sql)
    except SqlglotError:
        return " ".join(sql.split())
    words = []
    for position, token in enumerate(tokens):
        following = tokens[position + 1].token_type if position + 1 < len(tokens) else None
        if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER):
            words.append(token.text.upper() if following == TokenType.L_PAREN else "_")
        elif token.token_type in (TokenType.STRING, TokenType.NUMBER):
            words.append("?")
        elif token.token_type != TokenType.SEMICOLON:
            words.append(token.text.upper())
    return " ".join(words)


def referenced_names(sql: str) -> tuple[list[str], list[str]] | None:
    """(tables, columns) a query reads, lower-cased, without its own CTE and alias names; None if it does not parse."""
    try:
        return _tree_names(parse_sqlite(sql))
    except SQLError:
        return None


def _tree_names(tree: exp.Expression) -> tuple[list[str], list[str]]:
    own = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)} | {t.alias.lower() for t in tree.find_all(exp.TableAlias)}
    aliases |= {c.name.lower() for t in tree.find_all(exp.TableAlias) for c in t.columns}
    tables = sorted({t.name.lower() for t in tree.find_all(exp.Table)} - own - {""})
    columns = sorted({c.name.lower() for c in tree.find_all(exp.Column)} - aliases - {"", "*"})
    return tables, columns


def train_signature(sql: str) -> dict[str, Any]:
    """A train query's skeleton and referenced names, from one parse (cached per corpus)."""
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return {"skeleton": _token_skeleton(sql), "names": None}
    names = _tree_names(tree)
    try:
        return {"skeleton": _tree_skeleton(tree), "names": names}
    except SqlglotError:
        return {"skeleton": _token_skeleton(sql), "names": names}


@dataclass
class Relevance:
    """Relevant train ids per test id, split by why they are relevant."""

    by_execution: dict[str, set[str]]
    by_skeleton: dict[str, set[str]]

    def relevant(self, test_id: str) -> set[str]:
        return self.by_execution.get(test_id, set()) | self.by_skeleton.get(test_id, set())


def relevance_cache_path(home: Path, corpus: str, train: list[Example]) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus).strip("_")[:60] or "corpus"
    return home / "eval" / "relevance" / f"{slug}--{fingerprint(train)}--v{RELEVANCE_VERSION}.json"


def _test_key(example: Example) -> str:
    payload = json.dumps([example.sql, example.db_path or example.context], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_cache(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"version": RELEVANCE_VERSION, "train": {}, "test": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != RELEVANCE_VERSION or not isinstance(data.get("train"), dict):
            raise ValueError("unexpected layout")
        return data
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise DataError(f"relevance cache {path} is corrupt", hint="delete it; it is rebuilt on the next run") from None


def judge_relevance(
    test: list[Example],
    train: list[Example],
    *,
    scorer: Scorer,
    cache_path: Path | None = None,
    show_progress: bool = False,
) -> Relevance:
    """Relevant train examples for each test question, reading and extending the cache file."""
    cache: dict[str, Any] = _read_cache(cache_path) if cache_path else {"version": RELEVANCE_VERSION, "train": {}, "test": {}}
    changed = False
    train_info: dict[str, Any] = cache["train"]
    for example in tqdm(train, desc="train skeletons", unit="ex", disable=not show_progress or len(train) < 2000):
        if example.id not in train_info:
            train_info[example.id] = train_signature(example.sql)
            changed = True
    by_skeleton_index: dict[str, set[str]] = defaultdict(set)
    for example in train:
        by_skeleton_index[train_info[example.id]["skeleton"]].add(example.id)
    candidates = _CandidateFinder(train, train_info)

    tests: dict[str, Any] = cache["test"]
    # one database after another, so each distinct query runs once per database and only one
    # database's results are held at a time
    pending = sorted((e for e in test if tests.get(e.id, {}).get("key") != _test_key(e)), key=lambda e: DatabaseSource.for_example(e).key)
    results: dict[tuple[str, str], Any] = {}  # (database, SQL) → its result
    for example in tqdm(pending, desc="relevance judgements", unit="q", disable=not show_progress or not pending):
        if results and next(iter(results))[0] != DatabaseSource.for_example(example).key:
            results.clear()
        tests[example.id] = {
            "key": _test_key(example),
            "skeleton": sql_skeleton(example.sql),
            "execution": _equivalent(example, candidates, scorer, results),
        }
        changed = True
    if cache_path and changed:
        write_json_atomic(cache_path, cache)
    return Relevance(
        by_execution={e.id: set(tests[e.id]["execution"]) for e in test},
        by_skeleton={e.id: set(by_skeleton_index.get(tests[e.id]["skeleton"], set())) for e in test},
    )


class _CandidateFinder:
    """Train examples whose tables and columns all exist in a database, found through a
    table → examples index so large corpora are not scanned whole for every test question."""

    def __init__(self, train: list[Example], train_info: dict[str, Any]) -> None:
        self.always: list[tuple[Example, set[str]]] = []  # no parse, or no table at all: always tried
        self.by_table: dict[str, list[tuple[Example, set[str], set[str]]]] = defaultdict(list)
        for example in train:
            names = train_info[example.id]["names"]
            if names is None or not names[0]:
                self.always.append((example, set(names[1]) if names else set()))
                continue
            entry = (example, set(names[0]), set(names[1]))
            for table in names[0]:
                self.by_table[table].append(entry)

    def find(self, schema: dict[str, dict[str, str]]) -> list[Example]:
        tables = set(schema)
        columns = {c for table in schema.values() for c in table}
        found = {id(ex): ex for ex, cols in self.always if cols <= columns}
        for table in tables:
            for example, needed_tables, needed_columns in self.by_table.get(table, []):
                if needed_tables <= tables and needed_columns <= columns:
                    found[id(example)] = example
        return list(found.values())


def _equivalent(example: Example, candidates: _CandidateFinder, scorer: Scorer, results: dict[tuple[str, str], Any]) -> list[str]:
    """The candidates whose SQL returns the gold result; `results` memoizes each query's result
    (None: it failed) per database across test questions (synthesized stores repeat one SQL under
    several questions, and every test question of a database tries the same candidates)."""
    source = DatabaseSource.for_example(example)
    gold = scorer.gold(example.sql, source)
    if gold.excluded or gold.result is None or not gold.result.rows:
        return []
    database = scorer.databases.get(source)
    by_sql: dict[str, list[str]] = defaultdict(list)  # a stored query is compared once, however many questions share it
    for candidate in candidates.find(gold.schema):
        by_sql[candidate.sql].append(candidate.id)
    found = []
    for sql, ids in by_sql.items():
        key = (source.key, sql)
        if key not in results:
            try:
                results[key] = database.execute(sql, timeout_s=min(EQUIVALENCE_TIMEOUT_S, scorer.timeout_s))
            except SQLError:
                results[key] = None
        result = results[key]
        if result is not None and results_match(gold.result, result, ordered=gold.ordered):
            found.extend(ids)
    return sorted(found)
