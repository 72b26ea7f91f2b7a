"""The tiny random-weights GGUF fixture runs in llama.cpp, and the SQLite SELECT
grammar (rag/grammars/sqlite_select.gbnf) makes even that random model emit one
complete, parseable SELECT statement.

The ``tiny_gguf`` session fixture (written once into tmp_path_factory) lives in
tests/conftest.py and calls tests/fixtures/tiny_gguf.py.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

llama_cpp = pytest.importorskip("llama_cpp")
sqlglot = pytest.importorskip("sqlglot")

from fixtures.gbnf import grammar_accepts  # noqa: E402  (tests/ is on sys.path via conftest)
from fixtures.tiny_gguf import write_tiny_gguf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR_PATH = ROOT / "rag" / "grammars" / "sqlite_select.gbnf"

# The grammar is finite but rich; a random model keeps taking "continue" branches
# until the repetition bounds stop it (1000 seeds: mean ~130 tokens, max ~590), so
# give it room: the tiny model's context is 2048.
GEN_CTX = 2048
GEN_MAX_TOKENS = 1536
SEEDS = range(5)


@pytest.fixture(scope="module")
def grammar_text() -> str:
    return GRAMMAR_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def llm(tiny_gguf: Path):
    return llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=GEN_CTX, verbose=False)


# ------------------------------------------------------------------ the model --


def test_tiny_gguf_file(tiny_gguf: Path, tmp_path: Path) -> None:
    assert tiny_gguf.read_bytes()[:4] == b"GGUF"
    assert tiny_gguf.stat().st_size < 2 * 1024 * 1024
    # deterministic for a given seed, and quick to write
    start = time.perf_counter()
    again = write_tiny_gguf(tmp_path / "again.gguf")
    assert time.perf_counter() - start < 5.0
    assert again.read_bytes() == tiny_gguf.read_bytes()


def test_tiny_gguf_loads_and_generates(tiny_gguf: Path) -> None:
    llm = llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=512, verbose=False)
    assert llm.metadata["general.architecture"] == "llama"
    assert "[INST]" in llm.metadata["tokenizer.chat_template"]
    # SentencePiece-style vocabulary: keywords are single pieces, text round-trips
    assert len(llm.tokenize(b"SELECT", add_bos=False)) == 1
    tokens = llm.tokenize(b"SELECT name FROM users WHERE id = 1;", add_bos=False)
    assert len(tokens) <= 12
    assert llm.detokenize(tokens).strip() == b"SELECT name FROM users WHERE id = 1;"

    out = llm.create_completion("Hello", max_tokens=16, temperature=1.0, seed=1)
    assert isinstance(out["choices"][0]["text"], str)
    assert out["usage"]["completion_tokens"] >= 1

    chat = llm.create_chat_completion(
        [
            {"role": "system", "content": "You write SQL."},
            {"role": "user", "content": "How many users?"},
        ],
        max_tokens=16,
        seed=1,
    )
    assert isinstance(chat["choices"][0]["message"]["content"], str)


# ---------------------------------------------------------------- the grammar --


def test_grammar_loads(grammar_text: str) -> None:
    assert llama_cpp.LlamaGrammar.from_string(grammar_text, verbose=False) is not None
    assert llama_cpp.LlamaGrammar.from_file(str(GRAMMAR_PATH), verbose=False) is not None


GOOD = [
    "SELECT name FROM users WHERE id = 1;",
    "SELECT COUNT(*) FROM orders",
    "SELECT 1;",
    "SELECT c.name, SUM(o.total) AS spent FROM customers AS c JOIN orders o ON o.customer_id = c.id "
    "WHERE o.status IN ('paid', 'shipped') GROUP BY c.name HAVING SUM(o.total) > 100 "
    "ORDER BY spent DESC LIMIT 10;",
    "WITH ranked AS (SELECT name, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY salary DESC) AS rn "
    "FROM employees) SELECT name FROM ranked WHERE rn = 1;",
    "SELECT strftime('%Y', created_at) AS yr, AVG(price) FROM products WHERE price BETWEEN 10 AND 20.5 AND name LIKE '%a%' GROUP BY yr;",
    "SELECT name FROM users WHERE id NOT IN (SELECT user_id FROM bans) AND email IS NOT NULL;",
    "SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size FROM orders;",
    "SELECT ROUND(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) * 100.0 / COUNT(*), 2) FROM tasks;",
    "SELECT CAST(SUM(CASE WHEN T1.gender = 'F' THEN 1 ELSE 0 END) AS REAL) * 100 / COUNT(T1.id) "
    "FROM patients AS T1 INNER JOIN visits AS T2 ON T2.patient_id = T1.id;",
    "SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY a LIMIT 5 OFFSET 10",
    "SELECT DISTINCT LOWER(city) FROM addresses WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.id = addresses.id);",
    'SELECT "order", t.* FROM "group" t;',
    "SELECT orders.id, is_active, in_stock, selection FROM orders LEFT JOIN users ON users.id = orders.user_id;",
    "SELECT 'it''s', 'São Paulo' FROM cities;",
]

BAD = [
    "SELECT * FROM t; DROP TABLE t;",
    "DELETE FROM t;",
    "SELECT from FROM t;",
    "SELECT a FROM order;",
    "SELECT a FROM t WHERE;",
    "SELECT a FROM t -- comment",
    "SELECT " + "a" * 31 + " FROM t;",
    "SELECT a FROM t LIMIT 1 UNION SELECT b FROM u;",
    "SELECT *;",
]


@pytest.mark.parametrize("sql", GOOD)
def test_grammar_accepts(llm, grammar_text: str, sql: str) -> None:
    assert grammar_accepts(llm, grammar_text, sql)
    assert isinstance(sqlglot.parse_one(sql, read="sqlite"), sqlglot.exp.Query)


@pytest.mark.parametrize("sql", BAD)
def test_grammar_rejects(llm, grammar_text: str, sql: str) -> None:
    assert not grammar_accepts(llm, grammar_text, sql)


def _assert_valid_select(text: str) -> None:
    tree = sqlglot.parse_one(text, read="sqlite")
    assert isinstance(tree, sqlglot.exp.Query), text
    # SQLite itself must find no syntax error (unknown tables/columns are expected)
    try:
        sqlite3.connect(":memory:").execute("EXPLAIN " + text)
    except sqlite3.OperationalError as exc:
        assert "syntax error" not in str(exc) and "incomplete" not in str(exc), (text, exc)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_model_under_grammar_emits_one_select(llm, grammar_text: str, seed: int) -> None:
    grammar = llama_cpp.LlamaGrammar.from_string(grammar_text, verbose=False)
    out = llm.create_completion(
        "Question: how many users signed up in 2024?\nSQL:",
        max_tokens=GEN_MAX_TOKENS,
        temperature=1.0,
        seed=seed,
        grammar=grammar,
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop", f"cut at max_tokens: {choice['text']!r}"
    _assert_valid_select(choice["text"])


def test_random_model_chat_under_grammar(llm, grammar_text: str) -> None:
    grammar = llama_cpp.LlamaGrammar.from_string(grammar_text, verbose=False)
    out = llm.create_chat_completion(
        [{"role": "user", "content": "List the users."}],
        max_tokens=GEN_MAX_TOKENS,
        temperature=1.0,
        seed=7,
        grammar=grammar,
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    _assert_valid_select(choice["message"]["content"])
