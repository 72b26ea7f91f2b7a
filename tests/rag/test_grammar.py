"""The SELECT grammar per dialect (rag.grammar), run through llama.cpp's own grammar sampler: each
admits its engine's forms and not the others', what it admits parses in that dialect (sqlglot, and
DuckDB's own parser), and even the tiny random model under it writes one SELECT of that dialect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

import sqlglot  # noqa: E402
from fixtures.gbnf import grammar_accepts  # noqa: E402

from rag.errors import ConfigError  # noqa: E402
from rag.grammar import DIALECTS, SQLITE_GRAMMAR, grammar_text, replace_rules  # noqa: E402

SHARED = [  # every dialect
    "SELECT name FROM users WHERE id = 1;",
    "SELECT c.name, SUM(o.total) AS spent FROM customers AS c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY spent DESC LIMIT 10",
    "SELECT COALESCE(city, 'none'), NULLIF(a, b) FROM t",
    "SELECT ROUND(AVG(price)), MAX(x) FROM t WHERE name LIKE '%a%' AND x BETWEEN 1 AND 3 GROUP BY city ORDER BY MAX(x) DESC LIMIT 5",
]
OWN = {
    "sqlite": [
        "SELECT strftime('%Y', created_at) FROM t",
        "SELECT GROUP_CONCAT(name, ', ') FROM t",
        "SELECT a || b FROM t",
        'SELECT "order" FROM t',
        "SELECT TOTAL(x), IFNULL(a, 0) FROM t",
        "SELECT ROUND(AVG(price), 2) FROM t",
    ],
    "postgres": [
        "SELECT TO_CHAR(created_at, 'YYYY') FROM t",
        "SELECT EXTRACT(YEAR FROM created_at) FROM t",
        "SELECT DATE_TRUNC('month', created_at) FROM t",
        "SELECT STRING_AGG(name, ', ') FROM t",
        "SELECT a || b FROM t",
        'SELECT "order" FROM t',
        "SELECT STRPOS(name, 'a') FROM t",
        "SELECT ROUND(CAST(AVG(price) AS NUMERIC), 2) FROM t",
    ],
    "mysql": [
        "SELECT DATE_FORMAT(created_at, '%Y') FROM t",
        "SELECT YEAR(created_at) FROM t",
        "SELECT GROUP_CONCAT(name SEPARATOR ', ') FROM t",
        "SELECT CONCAT(a, b) FROM t",
        "SELECT `order` FROM t",
        "SELECT CAST(x AS SIGNED) FROM t",
        "SELECT IFNULL(a, 0) FROM t",
        "SELECT ROUND(AVG(price), 2) FROM t",
    ],
    "duckdb": [
        "SELECT strftime(created_at, '%Y') FROM t",
        "SELECT date_part('year', created_at) FROM t",
        "SELECT STRING_AGG(name, ', ') FROM t",
        "SELECT a || b FROM t",
        'SELECT "order" FROM t',
        "SELECT YEAR(created_at) FROM t",
        "SELECT ROUND(AVG(price), 2) FROM t",
    ],
}
NOT_THERE = {  # forms of another dialect (or SQLite) that would fail or mean something else on this engine
    "postgres": [
        "SELECT strftime('%Y', created_at) FROM t",
        "SELECT GROUP_CONCAT(name, ', ') FROM t",
        "SELECT IFNULL(a, 0) FROM t",
        "SELECT TOTAL(x) FROM t",
        "SELECT `order` FROM t",
        "SELECT ROUND(AVG(price), 2) FROM t",
    ],
    "mysql": [
        'SELECT "order" FROM t',
        "SELECT a || b FROM t",
        "SELECT GROUP_CONCAT(name, ', ') FROM t",
        "SELECT strftime('%Y', created_at) FROM t",
        "SELECT CAST(x AS TEXT) FROM t",
    ],
    "duckdb": ["SELECT TOTAL(x) FROM t", "SELECT GROUP_CONCAT(name SEPARATOR ', ') FROM t"],
}
# MySQL runs these with another meaning: "order" is a string, || is OR, GROUP_CONCAT(a, b) joins a and b
MEANS_ELSE = {"mysql": {'SELECT "order" FROM t', "SELECT a || b FROM t", "SELECT GROUP_CONCAT(name, ', ') FROM t"}}
NEVER = ["DELETE FROM t;", "SELECT * FROM t; DROP TABLE t;", "SELECT from FROM t;"]


@pytest.fixture(scope="module")
def llm(tiny_gguf: Path):
    return llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=2048, verbose=False)


def test_sqlite_is_the_shipped_file_and_every_dialect_loads_in_llama_cpp() -> None:
    assert grammar_text("sqlite") == SQLITE_GRAMMAR.read_text(encoding="utf-8")
    for dialect in DIALECTS:
        assert llama_cpp.LlamaGrammar.from_string(grammar_text(dialect), verbose=False) is not None
    with pytest.raises(ConfigError, match="oracle"):
        grammar_text("oracle")


def test_replace_rules_swaps_whole_rules_and_adds_missing_ones() -> None:
    text = 'a ::= b c\n  | d\n# note\nb ::= "x"\n'
    assert replace_rules(text, {"a": '"y"', "z": '"w"'}) == 'a           ::= "y"\n# note\nb ::= "x"\nz           ::= "w"\n'


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_grammar_admits_its_engines_select_and_parses_there(llm, dialect: str) -> None:
    grammar = grammar_text(dialect)
    for sql in SHARED + OWN[dialect]:
        assert grammar_accepts(llm, grammar, sql), (dialect, sql)
        assert isinstance(sqlglot.parse_one(sql, read=dialect), sqlglot.exp.Query), sql
    for sql in NEVER:
        assert not grammar_accepts(llm, grammar, sql), (dialect, sql)


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "sqlite"])
def test_each_grammar_refuses_the_forms_its_engine_does_not_have(llm, dialect: str) -> None:
    grammar = grammar_text(dialect)
    for sql in NOT_THERE[dialect]:
        assert not grammar_accepts(llm, grammar, sql), (dialect, sql)


def test_what_the_duckdb_grammar_admits_duckdb_parses() -> None:
    """DuckDB itself on a table with every column: its forms run, the refused ones fail there."""
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(":memory:")
    con.execute('CREATE TABLE t (a TEXT, b TEXT, x INTEGER, name TEXT, city TEXT, price REAL, created_at TIMESTAMP, "order" INTEGER)')
    for sql in [s for s in SHARED + OWN["duckdb"] if s.endswith(" t")]:
        con.execute(sql).fetchall()
    for sql in NOT_THERE["duckdb"]:
        with pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "sqlite"])
def test_the_random_model_under_a_dialect_grammar_writes_one_select_of_that_dialect(llm, dialect: str) -> None:
    grammar = llama_cpp.LlamaGrammar.from_string(grammar_text(dialect), verbose=False)
    for seed in range(3):
        out = llm.create_completion("SQL:", max_tokens=1536, temperature=1.0, seed=seed, grammar=grammar)
        text = out["choices"][0]["text"].strip()
        assert out["choices"][0]["finish_reason"] == "stop", text
        assert isinstance(sqlglot.parse_one(text, read=dialect), sqlglot.exp.Query), text


TABLE = "CREATE TABLE t (a TEXT, b TEXT, x INTEGER, name TEXT, city TEXT, price REAL, created_at TIMESTAMP, {q}order{q} INTEGER)"


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_the_engines_themselves_run_their_forms_and_refuse_the_others(request: pytest.FixtureRequest, dialect: str) -> None:
    """On the real servers (tests/fixtures/servers.py), as their superuser on a scratch database."""
    if dialect == "postgres":
        server = request.getfixturevalue("postgres_server")
        if "coderag_grammar" not in server.psql("SELECT datname FROM pg_database").split():
            server.psql("CREATE DATABASE coderag_grammar")
            server.psql(TABLE.format(q='"'), "coderag_grammar")
        run = lambda sql: server.psql(sql, "coderag_grammar")  # noqa: E731
    else:
        server = request.getfixturevalue("mariadb_server")
        server.mysql("CREATE DATABASE IF NOT EXISTS coderag_grammar")
        server.mysql(TABLE.format(q="`").replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"), "coderag_grammar")
        run = lambda sql: server.mysql(sql, "coderag_grammar")  # noqa: E731
    for sql in [s for s in SHARED + OWN[dialect] if s.endswith(" t")]:
        run(sql)  # raises CalledProcessError if the engine refuses it
    for sql in sorted(set(NOT_THERE[dialect]) - MEANS_ELSE.get(dialect, set())):
        with pytest.raises(subprocess.CalledProcessError):
            run(sql)
