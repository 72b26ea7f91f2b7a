"""End to end: `coderag eval run` with knn and with the tiny GGUF, `eval score` against `eval run`,
`eval retrieval`, an interrupted run resumed, and the OpenAI-style thread pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.rundir import METRICS, PLOT, PREDICTIONS, REPORT
from eval.scoring import CATEGORIES
from rag.corpus import load_corpus
from rag.generators import KnnGenerator

OUTPUTS = (PREDICTIONS, METRICS, REPORT, PLOT)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_arm(arm: dict) -> None:
    assert isinstance(arm["ex"], bool) and isinstance(arm["em"], bool) and isinstance(arm["em_ast"], bool)
    assert (arm["error_category"] is None) == arm["ex"]
    assert arm["error_category"] is None or arm["error_category"] in CATEGORIES
    assert arm["latency_ms"] >= 0


def test_knn_run_writes_four_outputs_on_the_bundled_test_split(knn_run: Path):
    for name in OUTPUTS:
        assert (knn_run / name).is_file(), name
    assert (knn_run / PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    records = read_jsonl(knn_run / PREDICTIONS)
    test_ids = {e.id for e in load_corpus("bundled", "test")}
    train_ids = {e.id for e in load_corpus("bundled", "train")}
    assert {r["id"] for r in records} == test_ids and len(records) == 75
    for record in records:
        assert record["excluded"] is None and record["gold_sql"] and record["sql_complexity"]
        check_arm(record["rag"])
        check_arm(record["no_rag"])
        retrieved = [hit["id"] for hit in record["rag"]["retrieved"]]
        assert len(retrieved) == 3 and set(retrieved) <= train_ids  # never the test split
        assert record["no_rag"]["retrieved"] == []
        assert record["no_rag"]["error_category"] == "no_sql"  # knn has nothing to answer from at k=0

    metrics = json.loads((knn_run / METRICS).read_text())
    assert set(metrics) >= {"rag", "no_rag", "delta", "retrieval", "config", "excluded"}
    rag = metrics["rag"]
    assert rag["n"] == 75 and sum(rag["errors"].values()) == 75 - round(rag["ex"] * 75)
    assert rag["ex"] == pytest.approx(sum(r["rag"]["ex"] for r in records) / 75, abs=1e-4)
    assert sum(v["n"] for v in rag["by_complexity"].values()) == 75 and len(rag["by_complexity"]) == 8
    low, high = metrics["delta"]["ex_ci95"]
    assert low <= metrics["delta"]["ex"] <= high
    assert {"recall@1", "recall@3", "mrr@10"} <= set(metrics["retrieval"])
    assert metrics["config"]["generator_name"] == "knn" and metrics["config"]["n_train_indexed"] == 255

    report = (knn_run / REPORT).read_text()
    for text in ("RAG (k=3)", "no-RAG (k=0)", "window functions", "wrong result", "95%", "mrr@10", PLOT):
        assert text in report


def test_eval_score_agrees_with_eval_run(knn_run: Path, tmp_path: Path, coderag, spider_layout):
    records = read_jsonl(knn_run / PREDICTIONS)
    gold, pred, db_dir = spider_layout(records, tmp_path)
    results = tmp_path / "results.jsonl"
    code, out, err = coderag("eval", "score", "--gold", str(gold), "--pred", str(pred), "--db-dir", str(db_dir), "--out", str(results))
    assert code == 0, err
    lines = read_jsonl(results)
    assert len(lines) == len(records)
    for record, line in zip(records, lines):
        mine = {key: record["rag"][key] for key in ("ex", "em", "em_ast", "error_category")}
        theirs = {key: line["pred"][key] for key in ("ex", "em", "em_ast", "error_category")}
        assert mine == theirs, record["id"]
    metrics = json.loads((knn_run / METRICS).read_text())["rag"]
    assert f"{100 * metrics['ex']:.1f}" in out and f"{100 * metrics['em_ast']:.1f}" in out


def test_gguf_run_with_llama_cpp(tiny_gguf: Path, tmp_path: Path, coderag, monkeypatch):
    monkeypatch.setenv("CODERAG_LLM__MAX_TOKENS", "48")
    monkeypatch.setenv("CODERAG_LLM__GRAMMAR", "true")  # the random model then emits SELECT-shaped text
    out = tmp_path / "llm"
    code, stdout, err = coderag(
        "eval", "run", "--generator", "llm", "--llm-model-path", str(tiny_gguf), "--limit", "5", "--out", str(out), "--no-progress"
    )
    assert code == 0, err
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    records = read_jsonl(out / PREDICTIONS)
    assert len(records) == 5
    for record in records:
        for arm in ("rag", "no_rag"):
            check_arm(record[arm])
            assert record[arm]["raw"]  # the model answered
        assert len(record["rag"]["retrieved"]) == 3
    metrics = json.loads((out / METRICS).read_text())
    assert metrics["config"]["generator_name"] == "llm:tiny.gguf"
    assert metrics["rag"]["n"] == metrics["no_rag"]["n"] == 5
    assert "RAG vs no-RAG" in stdout


class CountingKnn(KnnGenerator):
    """knn that counts its calls and can raise KeyboardInterrupt (a Ctrl-C) on one of them."""

    def __init__(self, interrupt_at: int | None = None, name: str = "knn") -> None:
        self.calls = 0
        self.interrupt_at = interrupt_at
        self.name = name

    def generate(self, prompt, hits, db, dialect="sqlite"):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return super().generate(prompt, hits, db)


def test_interrupted_run_keeps_predictions_and_resumes(tmp_path: Path, coderag, monkeypatch):
    import rag.chain

    out = tmp_path / "run"
    first = CountingKnn(interrupt_at=7)  # two calls per example: the 4th example's RAG arm
    monkeypatch.setattr(rag.chain, "make_generator", lambda *a, **kw: (first, None))
    code, _, err = coderag("eval", "run", "--generator", "knn", "--limit", "10", "--out", str(out), "--no-progress")
    assert code == 130
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "interrupted: 3 of 10" in err and "--resume" in err and str(out) in err
    assert len(read_jsonl(out / PREDICTIONS)) == 3
    assert not (out / METRICS).exists()

    second = CountingKnn()
    monkeypatch.setattr(rag.chain, "make_generator", lambda *a, **kw: (second, None))
    code, _, err = coderag("eval", "run", "--generator", "knn", "--limit", "10", "--out", str(out), "--no-progress", "--resume")
    assert code == 0, err
    assert second.calls == 2 * 7  # only the seven unfinished examples
    records = read_jsonl(out / PREDICTIONS)
    assert len(records) == len({r["id"] for r in records}) == 10
    assert json.loads((out / METRICS).read_text())["rag"]["n"] == 10


def test_openai_style_generators_run_in_a_thread_pool(knn_run: Path, tmp_path: Path, settings, encoder):
    from eval.rundir import RunSpec
    from eval.runner import run_evaluation

    generator = CountingKnn(name="openai:fake")
    spec = RunSpec(generator="openai", limit=12)
    metrics = run_evaluation(spec, settings, tmp_path / "pool", generator=generator, encoder=encoder, show_progress=False)
    assert generator.calls == 24 and settings.openai.concurrency > 1
    pooled = {r["id"]: r["rag"]["ex"] for r in read_jsonl(tmp_path / "pool" / PREDICTIONS)}
    sequential = {r["id"]: r["rag"]["ex"] for r in read_jsonl(knn_run / PREDICTIONS) if r["id"] in pooled}
    assert len(pooled) == 12 and pooled == sequential
    assert metrics["rag"]["n"] == 12


def test_eval_retrieval_compares_templates(coderag):
    code, out, err = coderag("eval", "retrieval", "--template", "question", "--template", "question_sql", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["template"] for r in results] == ["question", "question_sql"]
    for result in results:
        assert result["primary_metric"] == "mrr@10"
        assert 0 <= result["recall@1"] <= result["recall@3"] <= 1 and 0 <= result["mrr@10"] <= 1
        assert result["queries"] + result["queries_without_relevant"] == 75


def test_spider_layout_run_and_score_agree(tmp_path: Path, coderag):
    """A tiny Spider directory: database files instead of scripts, train and dev on different databases."""
    import sqlite3

    root = tmp_path / "spider"
    scripts = {
        "shop": "CREATE TABLE items (id INTEGER, name TEXT, price REAL); INSERT INTO items VALUES (1, 'pen', 1.5), (2, 'ink', 7.0), (3, 'pad', 3.25);",
        "zoo": "CREATE TABLE animals (id INTEGER, name TEXT, legs INTEGER); INSERT INTO animals VALUES (1, 'ant', 6), (2, 'cat', 4), (3, 'emu', 2);",
    }
    for db_id, script in scripts.items():
        (root / "database" / db_id).mkdir(parents=True)
        with sqlite3.connect(root / "database" / db_id / f"{db_id}.sqlite") as conn:
            conn.executescript(script)
        conn.close()
    train = [
        {"question": "Which animals have more than 3 legs?", "query": "SELECT name FROM animals WHERE legs > 3", "db_id": "zoo"},
        {"question": "How many animals are there?", "query": "SELECT COUNT(*) FROM animals", "db_id": "zoo"},
    ]
    dev = [
        {"question": "Which items cost more than 2?", "query": "SELECT name FROM items WHERE price > 2", "db_id": "shop"},
        {"question": "How many items are there?", "query": "SELECT COUNT(*) FROM items", "db_id": "shop"},
        {"question": "List items by price.", "query": "SELECT name FROM items ORDER BY price", "db_id": "shop"},
    ]
    (root / "train_spider.json").write_text(json.dumps(train))
    (root / "dev.json").write_text(json.dumps(dev))

    out = tmp_path / "run"
    code, _, err = coderag("eval", "run", "--corpus", f"spider:{root}", "--k", "1", "--out", str(out), "--no-progress")
    assert code == 0, err
    records = read_jsonl(out / PREDICTIONS)
    assert [r["db_id"] for r in records] == ["shop"] * 3
    for record in records:
        check_arm(record["rag"])
        assert record["rag"]["error_category"] == "no_sql"  # as in `ask`: knn has no shop example and does not reuse zoo SQL
    metrics = json.loads((out / METRICS).read_text())
    assert metrics["config"]["n_train_indexed"] == 2
    assert metrics["retrieval"]["queries"] == 2.0  # two dev queries share a train skeleton

    gold = tmp_path / "gold.sql"
    gold.write_text("".join(f"{r['gold_sql']}\t{r['db_id']}\n" for r in records))
    pred = tmp_path / "pred.sql"
    pred.write_text("".join(f"{r['rag']['sql'] or ''}\n" for r in records))
    results = tmp_path / "results.jsonl"
    code, _, err = coderag(
        "eval", "score", "--gold", str(gold), "--pred", str(pred), "--db-dir", str(root / "database"), "--out", str(results)
    )
    assert code == 0, err
    assert [line["pred"]["error_category"] for line in read_jsonl(results)] == [r["rag"]["error_category"] for r in records]


def test_store_synth_retrieves_from_each_databases_synthesized_store(tmp_path: Path, coderag):
    """`--store synth`: the index holds what `db add` would synthesize for every test database, never
    a gold question; metrics.json says how good those stores are and how knn's abstention does."""
    import sqlite3

    root = tmp_path / "spider"
    scripts = {
        "shop": "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, colour TEXT);"
        + "".join(
            f"INSERT INTO items (name, price, colour) VALUES ('item{i}', {i * 1.5}, '{('red', 'blue', 'green')[i % 3]}');"
            for i in range(30)
        ),
    }
    for db_id, script in scripts.items():
        (root / "database" / db_id).mkdir(parents=True)
        with sqlite3.connect(root / "database" / db_id / f"{db_id}.sqlite") as conn:
            conn.executescript(script)
        conn.close()
    (root / "database" / "gone").mkdir(parents=True)  # listed by a question, missing on disk: skipped and counted
    dev = [
        {"question": "How many items are there?", "query": "SELECT COUNT(*) FROM items", "db_id": "shop"},
        {"question": "Which items are red?", "query": "SELECT name FROM items WHERE colour = 'red'", "db_id": "shop"},
        {"question": "What is the weather?", "query": "SELECT 1", "db_id": "gone"},
    ]
    (root / "train_spider.json").write_text("[]")
    (root / "dev.json").write_text(json.dumps(dev))

    out = tmp_path / "run"
    code, _, err = coderag(
        "eval", "run", "--corpus", f"spider:{root}", "--store", "synth", "--store-examples", "150", "--out", str(out), "--no-progress"
    )
    assert code == 0, err
    metrics = json.loads((out / METRICS).read_text())
    records = read_jsonl(out / PREDICTIONS)
    store = metrics["store"]
    assert store["skipped_databases"] == 1 and "gone" in store["skipped"] and store["databases"] == 1
    assert store["questions"] == 2 and 0.0 <= store["recall@3"] <= store["coverage"] <= 1.0
    assert store["coverage"] >= 0.5  # at least the row count: the synthesizer always counts a table's rows
    assert metrics["config"]["store"] == "synth"
    assert set(metrics.get("abstention", {})) >= {"threshold", "coverage", "precision", "ex"}, records
    assert metrics["config"]["n_train_indexed"] > 10 and all(r["rag"]["confidence"] is not None for r in records)
    assert all("~synth-" in hit["id"] for r in records for hit in r["rag"]["retrieved"])  # only synthesized examples
