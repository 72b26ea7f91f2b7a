"""rag.llama_chat.LlamaCppChat on the real llama.cpp runtime (tiny random-weights GGUF)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from langchain_core.messages import HumanMessage, SystemMessage

pytest.importorskip("llama_cpp")

from rag.generators import GRAMMAR_PATH  # noqa: E402
from rag.llama_chat import LlamaCppChat  # noqa: E402

MESSAGES = [SystemMessage(content="You write SQLite."), HumanMessage(content="How many books are there?")]


@pytest.fixture(scope="module")
def chat(tiny_gguf: Path):
    """With the SELECT grammar, so even random weights produce ASCII SQL that ends by itself."""
    model = LlamaCppChat(model_path=str(tiny_gguf), n_ctx=2048, n_threads=1, seed=1, max_tokens=1536, grammar_path=str(GRAMMAR_PATH))
    yield model
    model.close()


def test_invoke_is_deterministic_and_parses_as_sqlite(chat: LlamaCppChat) -> None:
    first = chat.invoke(MESSAGES)
    assert first.content == chat.invoke(MESSAGES).content  # temperature 0: greedy
    sql = str(first.content)
    assert sql.lstrip().upper().startswith(("SELECT", "WITH")) and sqlglot.parse_one(sql, read="sqlite") is not None
    assert first.response_metadata.get("finish_reason") == "stop"  # the grammar completed, no truncation


def test_stream_yields_the_same_text_token_by_token(chat: LlamaCppChat) -> None:
    whole = str(chat.invoke(MESSAGES).content)
    chunks = list(chat.stream(MESSAGES))
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == whole


def test_a_call_can_override_the_grammar(chat: LlamaCppChat) -> None:
    from llama_cpp import LlamaGrammar

    digit = LlamaGrammar.from_string("root ::= [012]", verbose=False)
    for question in ("Is this good?", "Rate it."):
        assert str(chat.invoke([HumanMessage(content=question)], grammar=digit, max_tokens=2).content) in ("0", "1", "2")


def test_a_busy_model_makes_others_wait_a_bounded_time_then_says_busy(chat: LlamaCppChat) -> None:
    """The UI's bounded per-request wait: while one request holds llama.cpp, another waits at most
    busy_wait_s, then gets a clear "busy" error instead of queueing forever."""
    import threading
    import time

    from rag.errors import SQLError
    from rag.generators import ChatModelGenerator

    chat.busy_wait_s = 0.3
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with chat.lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(5)
        started = time.monotonic()
        with pytest.raises(SQLError) as caught:
            ChatModelGenerator(chat_model=chat, name="llm").generate(MESSAGES, [], None)
        assert caught.value.kind == "busy" and "busy" in str(caught.value)
        assert time.monotonic() - started < 0.3 + 1
    finally:
        release.set()
        holder.join()
        chat.busy_wait_s = None
    assert ChatModelGenerator(chat_model=chat, name="llm").generate(MESSAGES, [], None)  # free again
