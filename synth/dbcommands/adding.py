"""`coderag db add | load-demo | copy`: a database comes in (a file, a URL, the demo databases loaded
into a server, a SQLite file copied into one), is registered under a name, and gets its example store.

Registration stores the path and a schema fingerprint, never a copy of the data; the database is
only ever opened read-only (its bytes are checked unchanged after synthesis). The store
(`rag.registry`) keeps synthesized examples apart from the ones a person taught or saved: a
re-synthesis replaces the former and never touches the latter.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag.options import AllowPrivilegedRoleOption, EmbedderOption, settings_from_flags
from synth.dbcommands.common import err, out, refresh_index

NameOption = Annotated[str | None, typer.Option("--name", help="Name to use with --db (default: the file name).")]


def add(
    path: Annotated[str, typer.Argument(help="A SQLite database file, or a database URL: postgresql://, mysql://, duckdb:///FILE.")],
    name: NameOption = None,
    examples: Annotated[int, typer.Option("--examples", min=1, max=50_000, help="At most this many synthesized examples.")] = 2000,
    generator: Annotated[str, typer.Option("--generator", help="auto | rules (offline) | llm | openai: who writes the examples.")] = "auto",
    replace: Annotated[bool, typer.Option("--replace", help="Re-register an existing name (its taught and saved examples stay).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthesis.")] = 0,
    embedder: EmbedderOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    allow_privileged_role: AllowPrivilegedRoleOption = False,
) -> None:
    """Register a database under a name, synthesize its example store, and index it.

    Example: coderag db add ~/data/shop.sqlite --name shop"""
    from rag.databases import describe, resolve_db
    from rag.engines import DatabaseURL, is_database_url
    from rag.errors import ConfigError, DatabaseError
    from rag.registry import (
        ExampleStore,
        Registry,
        check_name,
        schema_fingerprint,
        schema_key,
    )
    from rag.sandbox import ReadOnlyDatabase
    from synth.grounded import synthesize_examples

    settings = settings_from_flags(embedder=embedder, execution={"allow_privileged_role": allow_privileged_role or None})
    if generator not in ("auto", "rules", "llm", "openai"):
        raise ConfigError(f"unknown generator '{generator}' (auto, rules, llm, openai)")
    if generator in ("llm", "openai"):
        raise ConfigError(f"--generator {generator} is not available for `db add` yet", hint="use --generator rules (the default)")
    url = DatabaseURL.parse(path) if is_database_url(path) else None
    if url is not None and url.engine != "sqlite":
        _add_url(url, path, name, examples, replace, seed, quiet, settings)
        return
    db_file = url.path if url is not None and url.path else Path(path).expanduser()
    if not db_file.exists():
        raise DatabaseError(f"database not found: {db_file}")
    if not db_file.is_file():
        raise DatabaseError(f"{db_file} is not a file")
    name = check_name(name or _name_from(db_file))
    registry, store = Registry(settings.home), ExampleStore(settings.home)
    existing = registry.get(name)
    if existing is not None and not replace and Path(existing.path) != db_file.resolve():
        raise ConfigError(
            f"a database named '{name}' is already registered ({existing.path})", hint="pass --replace, or choose another --name"
        )
    if name in _demo_names():
        raise ConfigError(f"'{name}' is a demo database's name", hint="choose another --name")
    ref = describe(resolve_db(str(db_file), settings.home))
    with ReadOnlyDatabase.open(db_file, timeout_s=settings.execution.timeout_s) as database:
        database.quick_check()  # a truncated file would otherwise answer with rows made up from what is left
    before = _file_digest(db_file)
    started = time.perf_counter()
    result = synthesize_examples(
        db_file, max_examples=examples, seed=seed, timeout_s=min(settings.execution.timeout_s, 2.0), show_progress=not quiet
    )
    fingerprint = schema_fingerprint(ref.schema)
    stored = _stored_examples(name, result.examples)
    if _file_digest(db_file) != before:  # cannot happen through the read-only sandbox; checked before anything is stored
        raise DatabaseError(f"{db_file} changed while coderag read it: another program is writing it")
    added = store.replace_synthesized(name, stored)
    moved = _adopt(store, schema_key(fingerprint), name)
    registration = registry.add(
        name, db_file, fingerprint, tables=ref.tables, meta={"synthesis": {"examples": len(result.examples), "seed": seed}}
    )
    _print_summary(result, added, moved, time.perf_counter() - started)
    err.print(f"indexing the examples of '{name}'…")
    refresh_index(settings, show_progress=not quiet, linking=ref)
    out.print(
        f"registered '{registration.name}' → {registration.path} ({registration.tables} tables). Ask with: coderag ask \"…\" --db {name}",
        highlight=False,
    )


def _add_url(url, location: str, name: str | None, examples: int, replace: bool, seed: int, quiet: bool, settings) -> None:
    """`db add` for a database by URL: the same synthesis, its SQL run and stored in the engine's dialect;
    the registration keeps the URL without its password."""
    from rag.databases import describe, resolve_db
    from rag.errors import ConfigError, DatabaseError
    from rag.registry import ExampleStore, Registry, check_name, schema_fingerprint, schema_key
    from rag.sqltools import to_dialect
    from synth.grounded import synthesize_examples

    name = check_name(name or _name_from(Path(url.url.database or "db")))
    registry, store = Registry(settings.home), ExampleStore(settings.home)
    existing = registry.get(name)
    if existing is not None and not replace and existing.path != url.public:
        raise ConfigError(
            f"a database named '{name}' is already registered ({existing.path})", hint="pass --replace, or choose another --name"
        )
    if name in _demo_names():
        raise ConfigError(f"'{name}' is a demo database's name", hint="choose another --name")
    allowed = settings.execution.allow_privileged_role
    ref = describe(resolve_db(location, settings.home, allow_privileged_role=allowed))
    if allowed and ref.url is not None:
        with ref.open(settings) as database:
            if database.privilege_notice:
                err.print(f"[yellow]note:[/] {escape(database.privilege_notice)}", highlight=False, soft_wrap=True)
    before = _file_digest(url.path) if url.path else None
    started = time.perf_counter()
    result = synthesize_examples(
        location,
        max_examples=examples,
        seed=seed,
        timeout_s=min(settings.execution.timeout_s, 2.0),
        show_progress=not quiet,
        allow_privileged_role=allowed,
    )
    fingerprint = schema_fingerprint(ref.schema)
    stored = _stored_examples(name, result.examples, lambda sql: to_dialect(sql, url.dialect))
    if (
        before is not None and _file_digest(url.path) != before
    ):  # a DuckDB file: opened read-only, checked unchanged before anything is stored
        raise DatabaseError(f"{url.path} changed while coderag read it: another program is writing it")
    added = store.replace_synthesized(name, stored)
    moved = _adopt(store, schema_key(fingerprint), name)
    registration = registry.add(
        name, url.public, fingerprint, tables=ref.tables, meta={"synthesis": {"examples": len(result.examples), "seed": seed}}
    )
    _print_summary(result, added, moved, time.perf_counter() - started)
    err.print(f"indexing the examples of '{name}'…")
    refresh_index(settings, show_progress=not quiet, linking=ref)
    out.print(
        f"registered '{registration.name}' → {registration.path} ({registration.tables} tables). Ask with: coderag ask \"…\" --db {name}",
        highlight=False,
        soft_wrap=True,
    )


def load_demo(
    url: Annotated[
        str, typer.Argument(help="Where to load: postgresql://USER@HOST/DB, mysql://USER@HOST/DB (MariaDB too) or duckdb:///FILE.")
    ],
    demo: Annotated[list[str] | None, typer.Option("--demo", help="A demo database to load (repeat; default: all of them).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop and reload tables that exist already.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="Register the loaded database under this name (default: demo-ENGINE).")] = None,
) -> None:
    """Load the demo databases into a server (or a DuckDB file) and register it with the demos'
    hand-written examples in its dialect, to ask it with --db URL or --db NAME.

    The URL's user needs to create tables (not the read-only role you ask with: docs/engines.md, "A read-only role").

    Example: coderag db load-demo postgresql://shop_owner@db.example/shop"""
    from rag.corpus import demo_db_path, demo_names, load_demo_examples
    from rag.engines import DatabaseURL, open_url
    from rag.errors import CodeRagError, ConfigError
    from rag.loader import load_sqlite
    from rag.registry import ExampleStore, Registry, StoredExample, check_name, schema_fingerprint
    from rag.sqltools import to_dialect, validate_user_sql

    settings = settings_from_flags()
    target = DatabaseURL.parse(url)
    if target.engine == "sqlite":
        raise ConfigError("the demo databases are SQLite already: use --db bookshop or --db clinic")
    names = demo or demo_names()
    unknown = [n for n in names if n not in demo_names()]
    if unknown:
        raise ConfigError(f"unknown demo database '{unknown[0]}' (available: {', '.join(demo_names())})")
    name = check_name(name or f"demo-{target.engine}")
    if name in demo_names():
        raise ConfigError(f"'{name}' is a demo database's name", hint="choose another --name")
    for demo_name in names:
        loaded = load_sqlite(demo_db_path(demo_name, settings.home), target, replace=replace)
        out.print(f"loaded '{demo_name}' into {target.masked}: {len(loaded)} tables, {sum(t.rows for t in loaded):,} rows", highlight=False)
    examples, skipped = [], 0
    # the loading role creates tables by design: it checks the examples as that role, then registers the URL to ask as a reader
    with open_url(target, timeout_s=settings.execution.timeout_s, allow_privileged_role=True) as database:
        schema, tables = database.schema_sql(), len(database.table_names())
        for demo_name in names:
            for example in load_demo_examples(demo_name):
                sql = to_dialect(example.sql, database.dialect)
                try:  # each example must run on this engine, as `db teach` checks it
                    database.execute(validate_user_sql(sql, dialect=database.dialect), max_rows=1)
                except CodeRagError:
                    skipped += 1
                    continue
                examples.append(StoredExample.make(name, example.question, sql, "person", meta={"from": example.id}))
    added = ExampleStore(settings.home).add(name, examples)
    Registry(settings.home).add(name, target.public, schema_fingerprint(schema), tables, meta={"demo": names})
    err.print(f"indexing the examples of '{name}'…")
    refresh_index(settings, show_progress=False)
    out.print(
        f"registered '{name}' → {target.public} with {len(added)} new examples in its dialect"
        + (f" ({skipped} did not run there and were left out)" if skipped else ""),
        highlight=False,
        soft_wrap=True,
    )
    out.print(f'ask with: coderag ask "How many customers are there in each country?" --db {name}', highlight=False, soft_wrap=True)


def copy(
    source: Annotated[str, typer.Argument(help="A SQLite file, or the name of a registered SQLite database.")],
    url: Annotated[
        str, typer.Argument(help="Where to copy it: postgresql://USER@HOST/DB, mysql://USER@HOST/DB (MariaDB too) or duckdb:///FILE.")
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Register the copy under this name (default: the file name and the engine).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop and copy again tables that exist already.")] = False,
    examples: Annotated[int, typer.Option("--examples", min=1, max=50_000, help="At most this many synthesized examples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthesis.")] = 0,
    embedder: EmbedderOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Copy a SQLite database into PostgreSQL, MySQL/MariaDB or DuckDB (types mapped, keys kept), then
    register the copy as `db add URL` does, to ask it with --db NAME or --db URL.

    Existing tables are refused unless --replace; on any failure the tables the copy made are dropped.
    The URL's user needs to create tables (docs/engines.md, "A read-only role").

    Example: coderag db copy ~/data/shop.sqlite postgresql://shop_owner@db.example/shop --name shop-pg"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rag.databases import resolve_db
    from rag.engines import DatabaseURL, is_database_url
    from rag.errors import ConfigError
    from rag.loader import copy_sqlite, drop_tables
    from rag.registry import Registry, check_name

    settings = settings_from_flags(embedder=embedder)
    target = DatabaseURL.parse(url)
    if target.engine == "sqlite":
        raise ConfigError("the target must be a server or DuckDB: postgresql://, mysql:// or duckdb:///FILE")
    if is_database_url(source) and DatabaseURL.parse(source).engine != "sqlite":
        raise ConfigError(
            "db copy reads a SQLite file (or a registered SQLite database)", hint="give the file's path or its registered name"
        )
    ref = resolve_db(source, settings.home)  # a missing file, or one that is not SQLite, fails here in one line
    if ref.path is None:
        raise ConfigError(f"{source} is not a SQLite database", hint="give the file's path or its registered name")
    name = check_name(name or f"{_name_from(ref.path)}-{target.engine}"[:64])
    existing = Registry(settings.home).get(name)
    if existing is not None and not replace and existing.path != target.public:
        raise ConfigError(
            f"a database named '{name}' is already registered ({existing.path})", hint="pass --replace, or choose another --name"
        )
    with Progress(
        TextColumn("copying {task.description}"), BarColumn(), MofNCompleteColumn(), console=err, disable=quiet, transient=True
    ) as bar:
        from rag.sandbox import ReadOnlyDatabase

        with ReadOnlyDatabase.open(ref.path) as database:
            task = bar.add_task("tables", total=len(database.table_names()))
        loaded = copy_sqlite(ref.path, target, replace=replace, progress=lambda table, rows: bar.update(task, advance=1, description=table))
    out.print(
        f"copied {ref.path.name} into {target.masked}: {len(loaded)} tables, {sum(t.rows for t in loaded):,} rows",
        highlight=False,
        soft_wrap=True,
    )
    # the copying role writes by design: it synthesizes the store as that role (as `db load-demo` does);
    # asking afterwards goes through a read-only role's URL
    writer = settings.model_copy(update={"execution": settings.execution.model_copy(update={"allow_privileged_role": True})})
    try:
        _add_url(target, url, name, examples, replace, seed, quiet, writer)
    except BaseException:
        drop_tables(target, loaded)  # not registered: nothing stays half-done
        raise


def _name_from(path: Path) -> str:
    import re

    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_-") or "db"
    return stem if stem[0].isalpha() else f"db_{stem}"[:64]


def _demo_names() -> list[str]:
    from rag.corpus import demo_names

    return demo_names()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored_examples(name: str, examples: list, dialect_of=lambda sql: sql) -> list:
    """One stored example per question, its SQL as `dialect_of` writes it; the SQL's shape is kept in its metadata."""
    from rag.registry import StoredExample

    return [
        StoredExample.make(name, question, dialect_of(example.sql), "synth", meta={"shape": example.shape})
        for example in examples
        for question in example.questions
    ]


def _adopt(store, old_key: str, new_key: str) -> int:
    """Examples saved for this file before it had a name (keyed by its schema) move to the name."""
    from rag.registry import StoredExample

    adopted = [StoredExample.make(new_key, e.question, e.sql, e.origin, meta=e.meta) for e in store.load(old_key) if e.origin != "synth"]
    added = store.add(new_key, adopted)
    return len(added)


def _print_summary(result, added: int, moved: int, seconds: float) -> None:
    shapes = Counter(example.shape for example in result.examples)
    questions = sum(len(example.questions) for example in result.examples)
    table = Table("shape", "examples", title=f"{len(result.examples)} examples ({questions} questions) in {seconds:.1f} s")
    for shape, count in shapes.most_common():
        table.add_row(shape, str(count))
    out.print(table)
    if moved:
        out.print(f"{moved} example(s) saved for this file before it was registered now belong to its name")
    out.print(f"{added} new synthesized question → SQL pairs in the store", highlight=False)
