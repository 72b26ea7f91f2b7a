"""`coderag models check` against a scripted OpenAI-compatible server on loopback (tests/fixtures/hostile_llm.py):
a model that answers SQL, one that wraps it in prose, one that answers prose only, and no server at all."""

from __future__ import annotations

import doctest
import socket
from typing import Any

import rag.llmcheck


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_model_that_answers_sql(coderag: Any, hostile_llm: Any) -> None:
    hostile_llm.behaviour = "SELECT count(*) FROM books;"
    before = hostile_llm.requests
    result = coderag("models", "check", "--openai-base-url", hostile_llm.url, "--openai-model", "qwen2.5-coder:7b")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert "\n" not in line and line.startswith("openai:qwen2.5-coder:7b answers in ")
    assert "follows the SQL format (one query, nothing else)" in line and "SELECT count(*) FROM books" in line
    assert hostile_llm.requests == before + 1  # one tiny request


def test_a_model_that_wraps_sql_in_prose(coderag: Any, hostile_llm: Any) -> None:
    hostile_llm.behaviour = "prose"
    result = coderag("models", "check", "--openai-base-url", hostile_llm.url)
    assert result.returncode == 0, result.stderr
    assert "writes prose around the SQL" in result.stdout and "--grammar" in result.stdout


def test_a_model_that_answers_only_prose(coderag: Any, hostile_llm: Any) -> None:
    hostile_llm.behaviour = "I am sorry, I cannot help with databases."
    result = coderag("models", "check", "--openai-base-url", hostile_llm.url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 6 and len(lines) == 1, result.stderr
    assert "prose and no SQL query" in lines[0] and "instruction-tuned model" in lines[0]


def test_an_unreachable_server_names_the_fix(coderag: Any) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    result = coderag("models", "check", "--openai-base-url", url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 6 and len(lines) == 1, result.stderr
    assert "did not answer" in lines[0] and url in lines[0] and "ollama serve" in lines[0]
    assert "Traceback" not in result.stderr


def test_no_llm_configured(coderag: Any) -> None:
    result = coderag("models", "check")
    assert result.returncode == 2 and "no LLM is configured" in result.stderr


def test_doctests() -> None:
    result = doctest.testmod(rag.llmcheck)
    assert result.attempted >= 1 and result.failed == 0
