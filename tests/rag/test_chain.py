"""The question → SQL chain with each generator: knn, a scripted chat model, llama.cpp (tiny GGUF),
and an OpenAI-compatible server (llama.cpp's own server on loopback)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import sqlglot
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answer import check_question
from rag.chain import TextToSQL
from rag.corpus import DEMO_DIR
from rag.databases import resolve_db
from rag.errors import ConfigError
from rag.generators import ChatModelGenerator, KnnGenerator, make_generator

FIRST_EXAMPLE = json.loads((DEMO_DIR / "bookshop" / "examples.jsonl").read_text().splitlines()[0])


@pytest.fixture(scope="module")
def bookshop(coderag_home):
    return resolve_db("bookshop", coderag_home)


def _service(settings, default_index, encoder, generator) -> TextToSQL:
    return TextToSQL(settings, default_index, encoder, generator)


def test_knn_answers_a_stored_question_with_its_sql(settings, default_index, encoder, bookshop):
    with _service(settings, default_index, encoder, KnnGenerator()) as service:
        answer = service.ask_database(FIRST_EXAMPLE["question"], bookshop)
    assert answer.error is None
    assert answer.retrieved[0].id == FIRST_EXAMPLE["id"] and answer.retrieved[0].score > answer.retrieved[2].score
    assert len(answer.retrieved) == 3 and all(r.db == "bookshop" for r in answer.retrieved)
    assert answer.sql == FIRST_EXAMPLE["sql"]
    assert answer.rows and answer.columns
    assert set(answer.timings_ms) >= {"retrieve", "generate", "extract", "execute", "total"}


def test_no_rag_baseline_retrieves_nothing(settings, default_index, encoder, bookshop):
    with _service(settings, default_index, encoder, KnnGenerator()) as service:
        answer = service.ask_database(FIRST_EXAMPLE["question"], bookshop, k=0)
    assert answer.retrieved == [] and answer.error_kind == "no_sql"


@pytest.mark.parametrize(
    ("reply", "kind", "has_rows"),
    [
        ("Sure:\n```sql\nSELECT title FROM books LIMIT 2;\n```", None, True),
        ("I cannot answer that.", "no_sql", False),
        ("```sql\nDELETE FROM books\n```", "forbidden", False),
        ("```sql\nSELECT nope FROM books\n```", "execution_error", False),
    ],
)
def test_scripted_chat_model_outcomes(settings, default_index, encoder, bookshop, reply, kind, has_rows):
    before = hashlib.sha256(bookshop.path.read_bytes()).hexdigest()
    generator = ChatModelGenerator(chat_model=FakeListChatModel(responses=[reply]), name="scripted")
    with _service(settings, default_index, encoder, generator) as service:
        answer = service.ask_database("Show two book titles", bookshop)
    assert answer.error_kind == kind
    assert bool(answer.rows) == has_rows
    assert hashlib.sha256(bookshop.path.read_bytes()).hexdigest() == before


def test_prompt_contains_schema_examples_and_question(settings, default_index, encoder, bookshop):
    seen = {}

    class Recording(FakeListChatModel):
        def stream(self, prompt, *args, **kwargs):  # type: ignore[override]
            seen["text"] = prompt.to_string()
            return super().stream(prompt, *args, **kwargs)

    generator = ChatModelGenerator(chat_model=Recording(responses=["SELECT 1"]), name="rec")
    with _service(settings, default_index, encoder, generator) as service:
        service.ask_database(FIRST_EXAMPLE["question"], bookshop)
        assert "CREATE TABLE" in seen["text"] and FIRST_EXAMPLE["sql"] in seen["text"]
        assert seen["text"].rstrip().endswith("### SQLite query") and "Similar solved examples" in seen["text"]
        service.ask_database(FIRST_EXAMPLE["question"], bookshop, k=0)
        assert "Similar solved examples" not in seen["text"]
        assert "Earlier in this conversation" not in seen["text"]
        with bookshop.open(settings) as database:
            service.ask("And in 2023?", database, db_key="bookshop", conversation="-- Q: How many orders in 2024?\n-- SQL: SELECT 1")
        text = seen["text"]
        assert text.index("Similar solved examples") < text.index("### Earlier in this conversation") < text.index("### Question")
        assert "-- Q: How many orders in 2024?" in text and text.index("### Database schema") < text.index("CREATE TABLE") < text.index(
            "Similar solved"
        )


def test_question_checks():
    with pytest.raises(ConfigError, match="empty"):
        check_question("   \n", 100)
    with pytest.raises(ConfigError, match="limit is 100"):
        check_question("x" * 101, 100)


def test_llama_cpp_with_grammar_yields_parseable_sql(settings, default_index, encoder, bookshop, tiny_gguf):
    settings.llm.grammar = True
    settings.llm.n_ctx = 4096
    generator, notice = make_generator("auto", settings, model_path=tiny_gguf)
    assert notice is None and generator.name == "llm:tiny.gguf"
    with _service(settings, default_index, encoder, generator) as service:
        for question in ("How many customers are there?", "List the books by price", "Which authors wrote the most books?"):
            answer = service.ask_database(question, bookshop, execute=False)
            assert answer.raw, "llama.cpp returned no text"
            assert answer.error is None, answer.error
            assert isinstance(sqlglot.parse_one(answer.sql, read="sqlite"), sqlglot.exp.Query)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tiny_gguf):
    """llama.cpp's OpenAI-compatible server on loopback, serving the tiny GGUF."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(tiny_gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/models", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama.cpp server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_openai_compatible_server(settings, default_index, encoder, bookshop, llama_server):
    settings.llm.max_tokens = 24
    generator, _ = make_generator("openai", settings, base_url=llama_server)
    with _service(settings, default_index, encoder, generator) as service:
        answer = service.ask_database("How many customers are there?", bookshop)
    assert answer.raw, answer.error  # a real completion came back over HTTP
    assert answer.generator.startswith("openai:")
    assert answer.error is None or answer.error_kind in {"no_sql", "parse_error", "not_select", "forbidden", "execution_error"}


def test_context_overflow_is_a_typed_error(settings, default_index, encoder, bookshop, tiny_gguf):
    settings.llm.n_ctx = 256
    generator, _ = make_generator("llm", settings, model_path=tiny_gguf)
    with _service(settings, default_index, encoder, generator) as service:
        answer = service.ask_database("How many customers are there?", bookshop)
    assert answer.error_kind == "generation_error" and "context window" in answer.error


def test_make_generator_errors(settings, tmp_path):
    with pytest.raises(ConfigError, match="needs a GGUF"):
        make_generator("llm", settings)
    with pytest.raises(ConfigError, match="server URL"):
        make_generator("openai", settings)
    with pytest.raises(ConfigError, match="unknown generator"):
        make_generator("magic", settings)
    generator, notice = make_generator("auto", settings)
    assert isinstance(generator, KnnGenerator) and "No LLM is configured" in notice


def test_the_retriever_drops_into_an_lcel_chain(default_index, encoder):
    """ExampleRetriever.as_langchain() is a LangChain BaseRetriever: a user's own LCEL chain can pipe it."""
    from langchain_core.runnables import RunnableLambda

    from rag.retriever import ExampleRetriever

    retriever = ExampleRetriever(index=default_index, encoder=encoder, k=2, db="bookshop").as_langchain()
    pipeline = retriever | RunnableLambda(lambda docs: [(d.metadata["db"], d.metadata["sql"]) for d in docs])
    found = pipeline.invoke(FIRST_EXAMPLE["question"])
    assert len(found) == 2 and found[0] == ("bookshop", FIRST_EXAMPLE["sql"])
    assert all(db == "bookshop" for db, _ in found)


def test_stream_yields_growing_text_then_the_same_answer_as_ask(settings, default_index, encoder, bookshop):
    """`stream` is `ask` with the generated text on the way; a chat model streams token by token."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from rag.answer import Answer

    reply = "```sql\nSELECT title FROM books ORDER BY title LIMIT 2\n```"
    service = _service(settings, default_index, encoder, ChatModelGenerator(chat_model=FakeListChatModel(responses=[reply, reply])))
    with bookshop.open(settings) as database:
        events = list(service.stream(FIRST_EXAMPLE["question"], database, db_key="bookshop"))
        asked = service.ask(FIRST_EXAMPLE["question"], database, db_key="bookshop")
    texts, streamed = events[:-1], events[-1]
    assert isinstance(streamed, Answer) and all(isinstance(t, str) for t in texts)
    assert len(texts) > 3 and all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert texts[-1] == reply == streamed.raw
    assert (streamed.sql, streamed.rows) == (asked.sql, asked.rows) and streamed.rows


def test_llama_cpp_uses_the_grammar_of_the_databases_dialect(settings, default_index, encoder, bookshop, tiny_gguf, tmp_path):
    """Asked on a DuckDB database, llama.cpp samples under DuckDB's SELECT grammar (rag.grammar), not SQLite's."""
    from rag.engines import DatabaseURL
    from rag.loader import load_sqlite

    url = f"duckdb:///{tmp_path / 'bookshop.duckdb'}"
    load_sqlite(bookshop.path, DatabaseURL.parse(url))
    settings.llm.grammar = True
    settings.llm.n_ctx = 4096
    generator, _ = make_generator("llm", settings, model_path=tiny_gguf)
    grammars = []
    stream = generator.chat_model.stream
    generator.chat_model.__dict__["stream"] = lambda prompt, **options: (
        grammars.append(options.get("grammar")),
        stream(prompt, **options),
    )[1]
    with _service(settings, default_index, encoder, generator) as service:
        answer = service.ask_database("How many customers are there?", resolve_db(url, settings.home), execute=False)
        assert grammars == [generator.grammar_for("duckdb")] and grammars[0] is not None
        assert answer.error is None, answer.error
        assert isinstance(sqlglot.parse_one(answer.sql, read="duckdb"), sqlglot.exp.Query)
        service.ask_database("How many customers are there?", bookshop, execute=False)
        assert grammars[1:] == [None]  # SQLite: the model's own grammar (llm.grammar's file)
