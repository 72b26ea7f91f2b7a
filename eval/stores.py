"""Synthesized stores for evaluation (`coderag eval run --store synth`).

For every database of the test split, the retrieval store is exactly what `coderag db add`
synthesizes for it (`synth.grounded`): no gold question ever enters it. Gretel-style examples
carry their database as a script; it is written to a SQLite file first. Files and stores are
cached under `<home>/eval/`, keyed by the schema, the file's bytes and the synthesizer's own
source, so changed rows or a changed synthesizer never reuse a stale store.

`store_metrics` then says how good such a store is for the test questions: **coverage** (some
stored example returns the gold result) and **recall@3** (one is among the three retrieved).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.corpus import Example, synthesized_examples
from rag.errors import CodeRagError
from rag.execution import (
    DatabaseCache,
    DatabaseSource,
    has_top_level_order_by,
    write_database,
)
from rag.io import read_jsonl, write_jsonl_atomic
from rag.registry import schema_fingerprint
from rag.sandbox import ReadOnlyDatabase
from rag.settings import Settings

DEFAULT_MAX_EXAMPLES = 2000  # what `coderag db add` synthesizes by default


def database_file(example: Example, home: Path) -> Path:
    """The example's SQLite file: its own, or its context script written to `<home>/eval/databases/`."""
    if example.db_path:
        return Path(example.db_path)
    digest = hashlib.sha256(example.context.encode("utf-8")).hexdigest()[:20]
    target = home / "eval" / "databases" / f"{digest}.sqlite"
    return target if target.is_file() else write_database(example.context, target)


def synthesizer_version() -> str:
    """A hash of synth.grounded's source: stores cached by an older synthesizer are not reused."""
    import synth.grounded

    digest = hashlib.sha256()
    for path in sorted(Path(synth.grounded.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def data_fingerprint(path: Path) -> str:
    """A hash of the database file's bytes: a store synthesized from other rows (values) is not reused."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def synthesized_store(db_id: str, path: Path, home: Path, *, max_examples: int = DEFAULT_MAX_EXAMPLES, seed: int = 0) -> list[Example]:
    """What `db add` synthesizes for the database at `path`, as train examples of `db_id` (cached)."""
    from synth.grounded import synthesize_examples

    with ReadOnlyDatabase.open(path) as database:
        fingerprint = schema_fingerprint(database.schema_sql())
    cache = home / "eval" / "stores" / f"{fingerprint}-{data_fingerprint(path)}-{max_examples}-{seed}-{synthesizer_version()}.jsonl"
    if cache.is_file():
        rows = list(read_jsonl(cache))
    else:
        result = synthesize_examples(path, max_examples=max_examples, seed=seed, show_progress=False)
        rows = [{"sql": e.sql, "questions": list(e.questions), "shape": e.shape} for e in result.examples]
        write_jsonl_atomic(cache, rows)
    return synthesized_examples(rows, db_id, db_path=path)


def synthesized_train(
    test: Sequence[Example], settings: Settings, *, max_examples: int = DEFAULT_MAX_EXAMPLES, show_progress: bool = True
) -> tuple[list[Example], dict[str, str]]:
    """The synthesized stores of every database in `test` (one per db_id), and the databases skipped with why."""
    from tqdm.auto import tqdm

    first: dict[str, Example] = {}
    for example in test:
        first.setdefault(example.db_id, example)
    train: list[Example] = []
    skipped: dict[str, str] = {}
    for db_id, example in tqdm(first.items(), desc="synthesizing stores", unit="db", disable=not show_progress):
        try:
            path = database_file(example, settings.home)
            if not path.is_file():
                raise CodeRagError(f"database file missing: {path}")
            train.extend(synthesized_store(db_id, path, settings.home, max_examples=max_examples))
        except CodeRagError as exc:
            skipped[db_id] = str(exc)
    return train, skipped


def synthesized_index(train: Sequence[Example], settings: Settings, encoder: Any, template: str, *, show_progress: bool = True) -> Any:
    """The index of the synthesized stores, saved under `<home>/eval/indexes/` and reused: a run over
    the same stores loads it, and one over changed stores embeds only the documents it has not seen
    (`VectorIndex.build(previous=...)`), so a repeated evaluation does not embed its stores again."""
    from rag.corpus import fingerprint
    from rag.errors import IndexStoreError
    from rag.index import VectorIndex, build_options, current_version

    directory = settings.home / "eval" / "indexes" / f"synth--{template}--{encoder.fingerprint[:10]}"
    previous = None
    if current_version(directory):
        try:
            previous = VectorIndex.load(directory, encoder)
        except IndexStoreError:
            previous = None  # another embedder's or damaged: rebuilt
    if previous is not None and previous.manifest.get("corpus_fingerprint") == fingerprint(train):
        index = previous
    else:
        index = VectorIndex.build(
            list(train), encoder, template, corpus="eval+synth", show_progress=show_progress, previous=previous, **build_options(settings)
        )
        index.save(directory)
    index.single_query_threads = settings.index.omp_threads_single_query
    return index


def store_metrics(
    test: Sequence[Example],
    train: Sequence[Example],
    records: Sequence[dict[str, Any]],
    *,
    timeout_s: float = 5.0,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Coverage and recall@3 of same-database stores for the scored test questions.

    A stored example is *right* for a question when its SQL returns the gold result (eval's EX
    equality, in order only when the gold sorts at the top level)."""
    by_db: dict[str, list[Example]] = {}
    for stored in train:
        by_db.setdefault(stored.db_id, []).append(stored)
    by_id = {e.id: e for e in test}
    covered = recalled = n = 0
    with DatabaseCache(timeout_s=timeout_s, result_capacity=16_384) as cache:
        from tqdm.auto import tqdm

        for record in tqdm(records, desc="store coverage", unit="q", disable=not show_progress):
            example = by_id.get(record["id"])
            if example is None or record.get("excluded"):
                continue
            n += 1
            store = by_db.get(example.db_id)
            if not store:
                continue
            source = DatabaseSource(path=store[0].db_path)
            ordered = has_top_level_order_by(example.sql)
            right_sql = {sql for sql in dict.fromkeys(e.sql for e in store) if cache.same_result(source, example.sql, sql, ordered=ordered)}
            covered += bool(right_sql)
            top3 = {e.sql for e in _retrieved(record, store)[:3]}
            recalled += bool(right_sql & top3)
    return {
        "questions": n,
        "coverage": round(covered / n, 4) if n else 0.0,
        "recall@3": round(recalled / n, 4) if n else 0.0,
        "store_examples": len(train),
        "databases": len(by_db),
    }


def _retrieved(record: dict[str, Any], store: list[Example]) -> list[Example]:
    by_id = {e.id: e for e in store}
    return [by_id[r["id"]] for r in record.get("rag", {}).get("retrieved", []) if r["id"] in by_id]
