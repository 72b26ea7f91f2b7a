"""Linking and the offline answers built from it, alike on every engine: the music fixture copied
into DuckDB and a real PostgreSQL and MariaDB (tests/fixtures/servers.py), read back through
rag.describe, linked and composed in the engine's dialect, and answered with the same rows as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.linking.music import make_music

from rag.compose import compose
from rag.describe import describe
from rag.engines import DatabaseURL, open_url
from rag.execution import results_match
from rag.linking import Linker
from rag.loader import copy_database, drop_tables
from rag.sandbox import ReadOnlyDatabase
from rag.values import ValueIndex

LINK_DB = "coderag_linking"
QUESTIONS = [
    "How many tracks are in the jazz genre?",
    "How many tracks per genre?",
    "List the albums of Mils Davis",
    "How many tracks are longer than 5 minutes?",
    "How many customers per city?",
    "Which artists have more than 2 albums?",
]


@pytest.fixture(params=["duckdb", "postgresql", "mysql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(URL the owner loads with, URL a reader asks with) of a scratch database."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'music.duckdb'}"
        return url, url
    from fixtures.servers import OWNER, OWNER_PASSWORD, READER

    server = request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mariadb_server")
    listed = server.psql("SELECT datname FROM pg_database") if request.param == "postgresql" else server.mysql("SHOW DATABASES")
    if LINK_DB not in listed.split():
        server.create_database(LINK_DB)
    monkeypatch.setenv("CODERAG_DB_PASSWORD", OWNER_PASSWORD)
    return server.url(OWNER, LINK_DB), server.url(READER, LINK_DB)


def _answers(database) -> list[tuple[str, object]]:
    schema = describe(database)
    linker = Linker(schema, ValueIndex.build(database, schema))
    out = []
    for question in QUESTIONS:
        candidates = compose(linker.link(question), database.dialect)
        assert candidates and candidates[0].coverage == 1.0, (database.dialect, question)
        out.append((candidates[0].sql, database.execute(candidates[0].sql)))
    return out


def test_the_same_questions_get_the_same_answers_on_every_engine(
    engine: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_url, reader_url = engine
    path = make_music(tmp_path / "music.sqlite")
    with ReadOnlyDatabase.open(path) as sqlite:
        expected = _answers(sqlite)
        loaded = copy_database(sqlite, DatabaseURL.parse(owner_url), replace=True)
    try:
        if reader_url != owner_url:
            from fixtures.servers import READER_PASSWORD

            monkeypatch.setenv("CODERAG_DB_PASSWORD", READER_PASSWORD)
        with open_url(DatabaseURL.parse(reader_url)) as database:
            got = _answers(database)
        for question, (sql, result), (want_sql, want) in zip(QUESTIONS, got, expected):
            assert results_match(want, result, ordered=False), (question, sql, want_sql)
    finally:
        monkeypatch.setenv("CODERAG_DB_PASSWORD", "owner-secret-1")
        drop_tables(DatabaseURL.parse(owner_url), loaded)
