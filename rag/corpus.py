"""Corpus loaders: every source becomes a list of `Example` records.

Sources (the `--corpus` spec):
    bundled            the project's own gretel-layout sample (rag/data/corpus/{train,test}.jsonl)
    gretel             gretelai/synthetic_text_to_sql through `datasets` (needs the hub)
    gretel:FILE        a local parquet/jsonl/csv with the gretel columns
    spider:DIR         Spider layout: dev.json / train_spider.json, tables.json, database/<db>/<db>.sqlite
    jsonl:FILE, csv:FILE   a user's own question,sql rows (optional id, db_path columns)
    demo               the demo databases' example stores (rag/data/demo/<name>/examples.jsonl)
    stores             every example store under the home directory (`coderag db add`, taught and saved examples)
    default            bundled train split + demo stores + every store: what `coderag ask` retrieves from
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, DatabaseError, DataError
from rag.io import atomic_path, read_csv, read_json, read_jsonl
from rag.registry import ExampleStore, Registry, StoredExample
from rag.sandbox import ReadOnlyDatabase

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_DIR = DATA_DIR / "corpus"
DEMO_DIR = DATA_DIR / "demo"
DEMO_SYNTH_FILE = "synth.jsonl"  # each demo database's synthesized store (synth.demo_stores writes it)

GRETEL_COLUMNS = (
    "id",
    "domain",
    "domain_description",
    "sql_complexity",
    "sql_complexity_description",
    "sql_task_type",
    "sql_task_type_description",
    "sql_prompt",
    "sql_context",
    "sql",
    "sql_explanation",
)
GRETEL_HUB_ID = "gretelai/synthetic_text_to_sql"


@dataclass(frozen=True)
class Example:
    """One question → SQL pair and where it runs.

    `db_id` names the database the SQL runs on. Gretel rows each carry their own tiny database
    in `context` (DDL + INSERTs) and have `db_path=None`; Spider, demo and user rows point at a
    SQLite file and carry its schema in `context`.
    """

    id: str
    question: str
    sql: str
    db_id: str
    context: str
    db_path: str | None = None
    split: str = "train"
    source: str = "bundled"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        return cls(**data)


def fingerprint(examples: Iterable[Example]) -> str:
    """A short content hash of a corpus, stored in index manifests and training metadata."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, ex.question, ex.sql, ex.db_id], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


# --- gretel layout ---------------------------------------------------------------------------


def example_from_gretel(row: dict[str, Any], split: str, source: str) -> Example:
    missing = [c for c in ("id", "sql_prompt", "sql_context", "sql") if c not in row]
    if missing:
        raise DataError(f"{source}: row is missing gretel columns {', '.join(missing)}")
    meta = {c: row.get(c) for c in GRETEL_COLUMNS if c not in ("id", "sql_prompt", "sql_context", "sql")}
    rid = str(row["id"])
    return Example(
        id=rid,
        question=str(row["sql_prompt"]).strip(),
        sql=str(row["sql"]).strip(),
        db_id=f"{source}-{rid}",
        context=str(row["sql_context"]).strip(),
        split=split,
        source=source,
        meta=meta,
    )


def load_bundled(split: str | None = None) -> list[Example]:
    """The bundled gretel-layout sample; `split` is train, test, or None for both."""
    splits = [split] if split else ["train", "test"]
    out: list[Example] = []
    for name in splits:
        path = CORPUS_DIR / f"{name}.jsonl"
        if not path.is_file():
            raise DataError(f"bundled corpus has no '{name}' split (expected {path})")
        out.extend(example_from_gretel(row, name, "bundled") for row in read_jsonl(path))
    return out


def load_gretel(location: str | None = None, split: str = "train") -> list[Example]:
    """gretelai/synthetic_text_to_sql from the hub, or a local parquet/jsonl/csv with its columns."""
    import datasets

    try:
        if location:
            path = Path(location)
            if not path.exists():
                raise DataError(f"gretel file not found: {path}")
            builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}.get(path.suffix.lower())
            if builder is None:
                raise DataError(f"unsupported gretel file type '{path.suffix}' (use .parquet, .jsonl or .csv)")
            data = datasets.load_dataset(builder, data_files=str(path), split="train")
            source = "gretel-local"
        else:
            data = datasets.load_dataset(GRETEL_HUB_ID, split=split)
            source = "gretel"
    except DataError:
        raise
    except (ConnectionError, OSError, ValueError) as exc:
        if location:
            raise DataError(f"could not read gretel file {location}: {str(exc).splitlines()[0]}") from None
        raise DataError(
            f"could not load {GRETEL_HUB_ID} from the Hugging Face hub ({type(exc).__name__})",
            hint="offline? download it elsewhere and pass --corpus gretel:/path/to/train.parquet",
        ) from None
    except Exception as exc:  # datasets raises its own hierarchy for schema/format problems
        raise DataError(f"could not read gretel data: {str(exc).splitlines()[0]}") from None
    missing = [c for c in ("id", "sql_prompt", "sql_context", "sql") if c not in data.column_names]
    if missing:
        raise DataError(f"gretel data is missing columns: {', '.join(missing)}")
    return [example_from_gretel(row, split, source) for row in data]


# --- Spider layout ---------------------------------------------------------------------------

SPIDER_SPLIT_FILES = {"test": ["dev.json"], "dev": ["dev.json"], "train": ["train_spider.json", "train_others.json"]}


def load_spider(directory: str | Path, split: str = "test") -> list[Example]:
    """Spider: question/query/db_id JSON files, tables.json, database/<db>/<db>.sqlite."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"Spider directory not found: {root}")
    files = [root / name for name in SPIDER_SPLIT_FILES.get(split, [f"{split}.json"]) if (root / name).is_file()]
    if not files:
        raise DataError(f"no Spider '{split}' file in {root} (expected {', '.join(SPIDER_SPLIT_FILES.get(split, []))})")
    schemas: dict[str, str] = {}
    out: list[Example] = []
    for path in files:
        rows = read_json(path)
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of examples")
        for i, row in enumerate(rows):
            try:
                question, sql, db_id = row["question"], row["query"], row["db_id"]
            except (KeyError, TypeError):
                raise DataError(f"{path}: example {i} lacks question/query/db_id") from None
            db_path = root / "database" / db_id / f"{db_id}.sqlite"
            if db_id not in schemas:
                schemas[db_id] = _schema_of(db_path) if db_path.is_file() else ""
            out.append(
                Example(
                    id=f"{path.stem}-{i}",
                    question=str(question).strip(),
                    sql=str(sql).strip(),
                    db_id=db_id,
                    context=schemas[db_id],
                    db_path=str(db_path),
                    split=split,
                    source="spider",
                )
            )
    return out


def _schema_of(db_path: Path) -> str:
    with ReadOnlyDatabase.open(db_path) as db:
        return db.schema_sql()


# --- a user's own question,sql files -----------------------------------------------------------


def load_user_file(path: str | Path, db_path: str | Path | None = None, split: str = "train") -> list[Example]:
    """JSONL or CSV rows with question and sql (optional id, db_path); `db_path` applies to rows without one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"examples file not found: {path}")
    rows = list(read_jsonl(path)) if path.suffix.lower() in (".jsonl", ".json") else read_csv(path)
    schemas: dict[str, str] = {}
    out = []
    for i, row in enumerate(rows):
        if not row.get("question") or not row.get("sql"):
            raise DataError(f"{path}: row {i + 1} needs non-empty 'question' and 'sql'")
        row_db = row.get("db_path") or (str(db_path) if db_path else None)
        if row_db and row_db not in schemas:
            schemas[row_db] = _schema_of(Path(row_db))
        out.append(
            Example(
                id=str(row.get("id") or f"{path.stem}-{i}"),
                question=str(row["question"]).strip(),
                sql=str(row["sql"]).strip(),
                db_id=str(row.get("db_id") or (Path(row_db).stem if row_db else path.stem)),
                context=schemas.get(row_db, "") if row_db else str(row.get("context", "")),
                db_path=row_db,
                split=str(row.get("split") or split),
                source="user",
            )
        )
    return out


# --- demo databases ---------------------------------------------------------------------------


def demo_names() -> list[str]:
    return sorted(p.name for p in DEMO_DIR.iterdir() if (p / "schema.sql").is_file())


def load_demo_examples(name: str, db_path: str | Path | None = None, schema: str = "") -> list[Example]:
    path = DEMO_DIR / name / "examples.jsonl"
    if not path.is_file():
        raise DataError(f"no example store for demo database '{name}'")
    return [
        Example(
            id=str(row["id"]),
            question=row["question"],
            sql=row["sql"],
            db_id=name,
            context=schema,
            db_path=str(db_path) if db_path else None,
            source="demo",
            meta={"origin": "person"},
        )
        for row in read_jsonl(path)
    ]


def load_demo_synth(name: str, db_path: str | Path | None = None, schema: str = "") -> list[Example]:
    """The demo database's shipped synthesized store (what `db add` synthesizes for it; origin synth)."""
    path = DEMO_DIR / name / DEMO_SYNTH_FILE
    if not path.is_file():
        return []
    return synthesized_examples(read_jsonl(path), name, db_path=db_path, context=schema, source="demo")


def synthesized_examples(
    rows: Iterable[dict[str, Any]], db_id: str, *, db_path: str | Path | None, context: str = "", source: str = "synth"
) -> list[Example]:
    """Stored synthesized rows (`{sql, questions, shape}`: one query and its question variants) as
    examples of database `db_id`, one per question, with ids `<db_id>~synth-<row>-<variant>`."""
    return [
        Example(
            id=f"{db_id}~synth-{number}-{variant}",
            question=question,
            sql=row["sql"],
            db_id=db_id,
            context=context,
            db_path=str(db_path) if db_path else None,
            source=source,
            meta={"origin": "synth", "shape": row.get("shape", "")},
        )
        for number, row in enumerate(rows)
        for variant, question in enumerate(row["questions"])
    ]


def demo_db_path(name: str, home: Path) -> Path:
    """The demo database file, (re)built atomically from schema.sql when missing or outdated."""
    script_path = DEMO_DIR / name / "schema.sql"
    if not script_path.is_file():
        raise DatabaseError(f"unknown demo database '{name}' (available: {', '.join(demo_names())})")
    script = script_path.read_text(encoding="utf-8")
    digest = hashlib.sha256(script.encode()).hexdigest()[:12]
    target = home / "demo" / f"{name}-{digest}.sqlite"
    if target.is_file():
        return target
    with atomic_path(target) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(script)
            conn.commit()
        finally:
            conn.close()
    return target


def demo_examples(home: Path) -> list[Example]:
    """Every demo database's example store, with its schema as context and its file as db_path."""
    out: list[Example] = []
    for name in demo_names():
        path = demo_db_path(name, home)
        with ReadOnlyDatabase.open(path) as db:
            schema = db.schema_sql()
        out.extend(load_demo_examples(name, path, schema))
        out.extend(load_demo_synth(name, path, schema))
    return out


def store_examples(home: Path) -> list[Example]:
    """Every example store's examples (rag.registry): registered databases, demo databases, and
    files asked about without registering; each with its database file where one is known."""
    registry, store, demos = Registry(home), ExampleStore(home), set(demo_names())
    out: list[Example] = []
    for key in store.keys():
        registration = registry.get(key)
        if key in demos:
            path: Path | None = demo_db_path(key, home)
        elif registration is not None and Path(registration.path).is_file():
            path = Path(registration.path)
        else:
            path = None
        out.extend(stored_example(stored, key, path) for stored in store.load(key))
    return out


def stored_example(stored: StoredExample, key: str, db_path: Path | None) -> Example:
    """A store's example as a corpus example of database `key` (the schema is read from the file)."""
    return Example(
        id=stored.id,
        question=stored.question,
        sql=stored.sql,
        db_id=key,
        context="",
        db_path=str(db_path) if db_path else None,
        source="store",
        meta={"origin": stored.origin},
    )


# --- dispatch --------------------------------------------------------------------------------


def load_corpus(spec: str, split: str | None = "train", *, home: Path | None = None, db_path: str | None = None) -> list[Example]:
    """Examples for a `--corpus` spec (see the module docstring). `split=None` means every split."""
    kind, _, arg = spec.partition(":")
    if kind == "bundled":
        examples = load_bundled(split)
    elif kind == "gretel":
        examples = load_gretel(arg or None, split or "train")
    elif kind == "spider":
        if not arg:
            raise DataError("spider corpus needs a directory: --corpus spider:DIR")
        examples = load_spider(arg, split or "test")
    elif kind in ("jsonl", "csv"):
        if not arg:
            raise DataError(f"{kind} corpus needs a file: --corpus {kind}:FILE")
        examples = load_user_file(arg, db_path, split or "train")
    elif kind in ("demo", "stores", "default"):
        if home is None:
            raise ConfigError(f"corpus '{spec}' needs the coderag home directory (where the demo databases are built)")
        examples = [] if kind == "stores" else demo_examples(home)
        if kind in ("stores", "default"):
            examples = examples + store_examples(home)
        if kind == "default":
            examples = load_bundled("train") + examples
    else:
        raise DataError(f"unknown corpus '{spec}' (use bundled, default, demo, stores, gretel[:FILE], spider:DIR, jsonl:FILE or csv:FILE)")
    if not examples:
        raise DataError(f"corpus '{spec}' has no examples" + (f" in split '{split}'" if split else ""))
    return examples
