"""EX on another engine: the run's questions on the same data loaded into PostgreSQL, MySQL/MariaDB or DuckDB.

    coderag eval run --corpus bundled --generator knn --engine-url postgresql://owner@localhost/scratch

Evaluation itself runs on SQLite (the corpora ship SQLite files or schema scripts). With an engine
URL, after the run each test database in turn is copied into that database (`rag.loader`, the one
place coderag writes to a server: the URL's role must create tables, so point it at a scratch
database), every scored question's gold SQL and each arm's predicted SQL are transpiled from SQLite
into the engine's dialect (`rag.sqltools.to_dialect`, as `ask --db URL` transpiles retrieved
examples) and run there read-only with the run's limits, and EX is computed there; the copied
tables are dropped before the next database. metrics.json's `engine` then says how many answers
carry over: EX on the engine, EX on SQLite over the same questions, and the share of SQLite-right
answers that are right on the engine too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.corpus import Example
from rag.engines import DatabaseURL, open_url
from rag.errors import ConfigError, DatabaseError, SQLError
from rag.execution import DatabaseCache, DatabaseSource, has_top_level_order_by, results_match
from rag.loader import copy_database, drop_tables
from rag.sqltools import to_dialect


def parse_engine_url(text: str) -> DatabaseURL:
    """The engine URL of `eval run --engine-url` (SQLite is what the run scores on already)."""
    url = DatabaseURL.parse(text)
    if url.engine == "sqlite":
        raise ConfigError(
            "--engine-url names SQLite, which the run scores on already", hint="give a postgresql://, mysql:// or duckdb:/// URL"
        )
    return url


def _run(database: Any, sql: str, dialect: str) -> tuple[Any, str | None]:
    """(result, None) or (None, the error kind) for SQLite `sql` transpiled to `dialect` and run."""
    try:
        return database.execute(to_dialect(sql, dialect)), None
    except SQLError as exc:
        return None, exc.kind


def score_on_engine(
    records: Sequence[dict[str, Any]],
    examples: Sequence[Example],
    url: DatabaseURL,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 10_000,
    show_progress: bool = True,
) -> dict[str, Any]:
    """metrics.json's `engine` section for the run's `records` (predictions.jsonl rows) of `examples`."""
    from tqdm.auto import tqdm

    by_id = {e.id: e for e in examples}
    arms = [arm for arm in ("rag", "no_rag") if any(arm in r for r in records)]
    groups: dict[str, list[tuple[dict[str, Any], Example]]] = {}
    for record in records:
        example = by_id.get(record["id"])
        if example is not None and not record.get("excluded"):
            groups.setdefault(DatabaseSource.for_example(example).key, []).append((record, example))
    right = {arm: 0 for arm in arms}
    right_sqlite = {arm: 0 for arm in arms}
    kept = {arm: 0 for arm in arms}  # right on SQLite and on the engine
    errors: dict[str, int] = {}
    scored = gold_failed = not_loaded = 0
    cache = DatabaseCache(timeout_s=timeout_s, max_rows=max_rows)
    bar = tqdm(groups.values(), desc=f"EX on {url.engine}", unit="db", disable=not show_progress)
    try:
        for items in bar:
            try:
                loaded = copy_database(cache.get(DatabaseSource.for_example(items[0][1])), url, replace=True)
            except DatabaseError:
                not_loaded += len(items)
                continue
            try:
                # the scratch database eval has just filled: its role writes by design (copy_database), so it is let in
                with open_url(url, timeout_s=timeout_s, max_rows=max_rows, allow_privileged_role=True) as database:
                    for record, example in items:
                        gold, failure = _run(database, example.sql, url.dialect)
                        if gold is None:
                            gold_failed += 1
                            errors[f"gold {failure}"] = errors.get(f"gold {failure}", 0) + 1
                            continue
                        scored += 1
                        ordered = has_top_level_order_by(example.sql)
                        for arm in arms:
                            sql, on_sqlite = (record.get(arm) or {}).get("sql"), bool((record.get(arm) or {}).get("ex"))
                            predicted, failure = _run(database, sql, url.dialect) if sql else (None, "no_sql")
                            ex = predicted is not None and results_match(gold, predicted, ordered=ordered)
                            if predicted is None and failure != "no_sql":
                                errors[f"{arm} {failure}"] = errors.get(f"{arm} {failure}", 0) + 1
                            right[arm] += ex
                            right_sqlite[arm] += on_sqlite
                            kept[arm] += ex and on_sqlite
            finally:
                drop_tables(url, loaded)
    finally:
        bar.close()
        cache.close()
    share = lambda part, whole: round(part / whole, 4) if whole else None  # noqa: E731
    return {
        "engine": url.engine,
        "url": url.public,
        "databases": len(groups),
        "scored": scored,
        "gold_failed": gold_failed,
        "not_loaded": not_loaded,
        "ex": {arm: share(right[arm], scored) for arm in arms},
        "ex_sqlite": {arm: share(right_sqlite[arm], scored) for arm in arms},
        "carried_over": {arm: share(kept[arm], right_sqlite[arm]) for arm in arms},
        "errors": dict(sorted(errors.items())),
    }
