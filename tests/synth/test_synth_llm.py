"""The LLM triplet generator: scripted chat models for the orchestration, the real llama.cpp
runtime (tiny random GGUF, judge forced to one digit by a grammar) for the plumbing."""

from __future__ import annotations

import json
import threading

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from synth.llm import (
    ChatBackend,
    Job,
    TripletGenerator,
    cache_key,
    examples_from_triplets,
    make_chat_model,
    similar_snippets,
)
from synth.sources import Snippet
from synth.stats import SynthStats
from synth.tasks import TASKS
from synth.triplets import Triplet

SQL = "SELECT name FROM products WHERE price > 50"
OTHER = "SELECT name FROM products WHERE price > 50 ORDER BY price DESC"


def sql_snippet(text: str = SQL, origin: str = "t:1") -> Snippet:
    return Snippet(text=text, language="sql", origin=origin, body=text)


def scripted(*answers: str, **options) -> TripletGenerator:
    """A generator on GenericFakeChatModel: answers come back in order; one more call raises StopIteration."""
    backend = ChatBackend(model=GenericFakeChatModel(messages=iter(answers)), name="fake")
    return TripletGenerator(backend, seed=0, **options)


def test_text2sql_query_is_generated_and_judged():
    stats = SynthStats()
    triplet = scripted("How many products cost more than 50?", "1").run_one(Job(TASKS["text2sql"], sql_snippet()), stats)
    assert (triplet.query, triplet.pos) == ("How many products cost more than 50?", SQL)
    assert (triplet.category, triplet.task_type, triplet.source) == ("text2code", "text2sql", "t:1")
    assert triplet.meta["verdict"] == 1 and triplet.meta["generator"] == "llm"
    assert triplet.work["sqlite"] == SQL
    assert stats.stages["made"]["text2code"] == 1


@pytest.mark.parametrize(
    ("answer", "stage"), [("2", "judged_out"), ("0", "judged_out"), ("10", "failures"), ("1.", "failures"), ("I'd say 1", "failures")]
)
def test_judge_verdicts_are_parsed_strictly(answer, stage):
    stats = SynthStats()
    assert scripted("Which products are expensive?", answer).run_one(Job(TASKS["text2sql"], sql_snippet()), stats) is None
    assert stats.stages[stage]["text2code"] == 1
    assert stats.total("made") == 0


@pytest.mark.parametrize(
    ("task", "answer", "reason"),
    [
        ("sql_rewrite", "this is not SQL at all", "SQL that does not parse"),
        ("sql_explanation", "", "empty answer"),
        ("sql_explanation", "!!! ??? 42", "answer has no words"),
        ("sql_translation", "SELEC name FRM", "SQL that does not parse"),
    ],
)
def test_garbage_output_is_counted_as_a_failure(task, answer, reason, caplog):
    stats = SynthStats()
    assert scripted(answer).run_one(Job(TASKS[task], sql_snippet()), stats) is None
    assert stats.total("failures") == 1
    assert stats.notes["failure: off-format LLM output"] == 1
    assert reason in caplog.text


def test_model_errors_are_counted_not_raised():
    stats = SynthStats()
    broken = ChatBackend(model=RunnableLambda(lambda messages: (_ for _ in ()).throw(ConnectionError("server down"))), name="broken")
    assert TripletGenerator(broken).run_one(Job(TASKS["text2sql"], sql_snippet()), stats) is None
    assert stats.notes["failure: LLM error ConnectionError"] == 1


def test_bug_description_is_two_steps_with_the_buggy_code_as_negative():
    stats = SynthStats()
    generator = scripted(
        "SELECT name FROM products WHERE price < 50", "The comparison on price is reversed, so cheap products come back.", "1"
    )
    triplet = generator.run_one(Job(TASKS["sql_bug_description"], sql_snippet()), stats)
    assert triplet.query == "The comparison on price is reversed, so cheap products come back."
    assert triplet.pos == SQL
    assert triplet.neg == "SELECT name FROM products WHERE price < 50" and triplet.meta["neg_origin"] == "llm"


def test_modification_and_comparison_use_the_similar_snippet():
    stats = SynthStats()
    similar = sql_snippet(OTHER, "t:2")
    triplet = scripted("The output sorts by price, highest first.", "Sort the products by price, highest first.", "1").run_one(
        Job(
            TASKS["code_modification"],
            Snippet(text="a = 1\nb = 2", language="python", origin="m.py:1"),
            Snippet(text="a = 1\nb = 3", language="python", origin="m.py:2"),
        ),
        stats,
    )
    assert triplet.query == "Sort the products by price, highest first.\na = 1\nb = 2"
    assert triplet.pos == "a = 1\nb = 3"
    comparison = scripted("How do the two queries differ?", "The second one sorts by price.", "1").run_one(
        Job(TASKS["sql_comparison"], sql_snippet(), similar), stats
    )
    assert comparison.query == f"How do the two queries differ?\nCode 1:\n{SQL}\nCode 2:\n{OTHER}"
    assert comparison.pos == "The second one sorts by price."
    assert scripted().run_one(Job(TASKS["sql_comparison"], sql_snippet()), stats) is None  # no similar snippet: a failure
    assert stats.total("failures") == 1


def test_instruction_then_code():
    triplet = scripted("Sort the result by price.", "```sql\nSELECT name FROM products WHERE price > 50 ORDER BY price\n```", "1").run_one(
        Job(TASKS["sql_modification"], sql_snippet()), SynthStats()
    )
    assert triplet.query == f"Sort the result by price.\n{SQL}"
    assert triplet.pos == "SELECT name FROM products WHERE price > 50 ORDER BY price"


def test_examples_and_debug_traces():
    pool = [
        {"task": "text2sql", "input": "SELECT COUNT(*) FROM orders", "output": "How many orders are there?"},
        {"task": "sql_explanation", "input": "x", "output": "y"},
    ]
    generator = scripted("Which products cost more than 50?", "1", examples_pool=pool, num_examples=3, debug=True)
    triplet = generator.run_one(Job(TASKS["text2sql"], sql_snippet()), SynthStats())
    prompt, judge = triplet.meta["debug"]
    assert "How many orders are there?" in prompt["prompt"] and "Example 2" not in prompt["prompt"]
    assert judge["response"] == "1" and "single number (0 or 1 or 2)" in judge["prompt"]
    rejected = scripted("Which products?", "2", debug=True)
    rejected.run_one(Job(TASKS["text2sql"], sql_snippet()), SynthStats())
    assert rejected.rejected[0]["verdict"] == 2 and rejected.rejected[0]["debug"]


def test_cache_is_reused_on_rerun(tmp_path):
    job = Job(TASKS["text2sql"], sql_snippet())
    first = scripted("Which products cost more than 50?", "1", cache_dir=tmp_path).run_one(job, SynthStats())
    path = tmp_path / f"{cache_key(TASKS['text2sql'], SQL)}.json"
    record = json.loads(path.read_text())
    assert record["status"] == "made" and record["query"] == first.query
    stats = SynthStats()
    again = scripted(cache_dir=tmp_path).run_one(job, stats)  # the model has no answers: only the cache can serve
    assert again.to_json() == first.to_json()
    assert stats.notes == {"cache: hit": 1}
    # judged-out documents are cached too, so a rerun does not ask again
    out_job = Job(TASKS["text2sql"], sql_snippet("SELECT 1", "t:9"))
    scripted("Anything?", "2", cache_dir=tmp_path).run_one(out_job, SynthStats())
    stats = SynthStats()
    assert scripted(cache_dir=tmp_path).run_one(out_job, stats) is None
    assert stats.stages["judged_out"]["text2code"] == 1 and stats.notes["cache: hit"] == 1


def test_corrupt_cache_file_is_regenerated(tmp_path):
    job = Job(TASKS["text2sql"], sql_snippet())
    path = tmp_path / f"{cache_key(TASKS['text2sql'], SQL)}.json"
    path.write_text("{not json")
    stats = SynthStats()
    triplet = scripted("Which products cost more than 50?", "1", cache_dir=tmp_path).run_one(job, stats)
    assert triplet is not None
    assert stats.notes["cache: corrupt file regenerated"] == 1
    assert json.loads(path.read_text())["status"] == "made"
    path.write_text(json.dumps({"status": "made", "query": 3}))  # valid JSON, not a record
    stats = SynthStats()
    scripted("Which products cost more than 50?", "1", cache_dir=tmp_path).run_one(job, stats)
    assert stats.notes["cache: corrupt file regenerated"] == 1


def test_llm_hard_negatives_are_deduplicated_and_cached(tmp_path):
    answers = [
        "Which products cost more than 50?",
        "1",
        "SELECT name FROM products",
        "SELECT name FROM products ",
        SQL,
        "SELECT price FROM products",
    ]
    generator = scripted(*answers, cache_dir=tmp_path)
    triplet = generator.run_one(Job(TASKS["text2sql"], sql_snippet()), SynthStats(), num_negatives=4)
    assert triplet.negatives == ["SELECT name FROM products", "SELECT price FROM products"]
    assert triplet.neg == "SELECT name FROM products" and triplet.meta["neg_origin"] == "llm"
    again = scripted(cache_dir=tmp_path).run_one(Job(TASKS["text2sql"], sql_snippet()), SynthStats(), num_negatives=4)
    assert again.negatives == triplet.negatives


def test_thread_pool_keeps_job_order():
    lock = threading.Lock()
    calls = []

    def respond(messages):
        prompt = messages[0].content
        with lock:
            calls.append(prompt)
        if "Your output must be a single number" in prompt:
            return AIMessage(content="1")
        name = prompt.split("FROM ")[1].split()[0]
        return AIMessage(content=f"What is in the {name} table?")

    generator = TripletGenerator(ChatBackend(model=RunnableLambda(respond), name="echo"))
    jobs = [Job(TASKS["text2sql"], sql_snippet(f"SELECT * FROM table_{i}", f"t:{i}")) for i in range(8)]
    stats = SynthStats()
    triplets = generator.run(jobs, stats, threads=4, show_progress=False)
    assert [t.query for t in triplets] == [f"What is in the table_{i} table?" for i in range(8)]
    assert len(calls) == 16 and stats.stages["made"]["text2code"] == 8


def test_similar_snippets_and_examples_pool():
    snippets = [
        sql_snippet("SELECT name FROM products WHERE price > 5", "a"),
        sql_snippet("SELECT name FROM products WHERE price < 5", "b"),
        sql_snippet("SELECT channel FROM orders", "c"),
        Snippet(text="def f():\n    return products", language="python", origin="d"),
    ]
    assert similar_snippets(snippets, max_df=1.0) == {0: 1, 1: 0, 2: 0}
    rows = [
        Triplet(query="Q?", pos="SELECT 1", category="text2code", task_type="text2sql", source="s", meta={"check": "gold"}),
        Triplet(query="SELECT 1", pos="one", category="code2text", task_type="sql_explanation", source="s", meta={"check": "parsed"}),
    ]
    assert examples_from_triplets(rows) == [{"task": "text2sql", "input": "SELECT 1", "output": "Q?"}]


# --- the real llama.cpp runtime ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_backend(tiny_gguf, tmp_path_factory):
    from rag.settings import load_settings

    settings = load_settings(home=tmp_path_factory.mktemp("home"), llm={"max_tokens": 16, "n_threads": 1, "grammar": True})
    backend = make_chat_model("llm", settings, model_path=tiny_gguf)
    yield backend
    backend.close()


@pytest.mark.slow
def test_llama_cpp_judge_grammar_forces_one_digit(tiny_backend):
    from langchain_core.messages import HumanMessage

    for question in ("Is this good?", "Rate it: 0, 1 or 2."):
        answer = tiny_backend.model.invoke([HumanMessage(content=question)], **tiny_backend.judge_kwargs).content
        assert answer in {"0", "1", "2"}


@pytest.mark.slow
def test_llama_cpp_generation_end_to_end(tiny_backend, tmp_path, caplog):
    generator = TripletGenerator(tiny_backend, cache_dir=tmp_path, num_examples=0, debug=True)
    stats = SynthStats()
    result = generator.run_one(Job(TASKS["text2sql"], sql_snippet()), stats)
    # random weights: the question may be judged good or bad, but the run completes and the
    # judge's answer always parses, because the grammar allows one digit only
    assert "judge answer is not exactly" not in caplog.text
    assert stats.total("made") + stats.total("judged_out") == 1, stats.notes
    record = json.loads((tmp_path / f"{cache_key(TASKS['text2sql'], SQL)}.json").read_text())
    assert record["verdict"] in (0, 1, 2)
    assert record["debug"][1]["response"] == str(record["verdict"])
    assert (result is not None) == (record["verdict"] == 1)
