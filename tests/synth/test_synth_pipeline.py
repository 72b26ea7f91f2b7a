"""The pipeline end to end: the default curated run, --all, bad input, the LLM path on llama.cpp."""

from __future__ import annotations

from collections import Counter

import pytest

from rag.corpus import load_bundled
from rag.errors import ConfigError, DataError
from synth import pipeline
from synth.pipeline import SHIPPED, SynthConfig, default_out, run_synthesis
from synth.triplets import load_triplets, read_triplets


@pytest.fixture
def no_encoder(monkeypatch):
    def refuse(settings):
        raise AssertionError("this run must not load an embedder")

    monkeypatch.setattr(pipeline, "encoder_from_settings", refuse)


@pytest.mark.slow
def test_default_run_writes_40_curated_rows(settings, encoder, tmp_path):
    out = tmp_path / "curated.csv"
    result = run_synthesis(SynthConfig(out=out), settings, encoder=encoder, show_progress=False)
    rows = read_triplets(out)
    assert len(rows) == 40
    assert Counter(r.category for r in rows) == {"text2code": 10, "code2text": 10, "code2code": 10, "hybrid": 10}
    assert all(r.neg for r in rows)
    assert len(load_triplets(out, strict=True).rows) == 40
    train_ids = {ex.id for ex in load_bundled("train")}
    assert all(r.source.startswith("bundled:train:") and r.source.rsplit(":", 1)[1] in train_ids for r in rows)
    stats = result.stats.to_dict()
    assert stats["totals"]["selected"] == 40 and stats["totals"]["made"] > 2000 and stats["totals"]["failures"] == 0
    assert (tmp_path / "curated.summary.json").is_file() and (tmp_path / "curated.jsonl").is_file()
    # within a category a source example is used once, and task types are mixed
    for category in ("text2code", "code2text", "code2code", "hybrid"):
        picked = [r for r in rows if r.category == category]
        assert len({r.source for r in picked}) == 10
        assert len({r.task_type for r in picked}) >= 2


def test_all_writes_thousands_without_an_embedder(settings, tmp_path, no_encoder):
    out = tmp_path / "all.csv"
    config = SynthConfig(all=True, consistency=False, hard_negatives="none", out=out)
    result = run_synthesis(config, settings, show_progress=False)
    assert len(result.triplets) > 2500
    assert set(Counter(t.category for t in result.triplets)) == {"text2code", "code2text", "code2code", "hybrid"}
    assert len(read_triplets(out)) == len(result.triplets)
    assert result.stats.total("selected") == len(result.triplets)


def test_default_output_path_is_under_coderag_home(settings):
    assert default_out(settings, False) == settings.home / "synth" / "curated_triplets.csv"
    assert default_out(settings, True) == settings.home / "synth" / "all_triplets.csv"
    assert default_out(settings, False) != SHIPPED


def test_empty_corpus_is_counted_and_nothing_to_do_is_an_error(settings, tmp_path, no_encoder):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "x.csv"
    with pytest.raises(DataError, match="nothing to synthesise from"):
        run_synthesis(SynthConfig(corpus=[f"jsonl:{empty}"], out=out), settings, show_progress=False)
    assert not out.exists()
    code = tmp_path / "src"
    code.mkdir()
    (code / "m.py").write_text('def area(w, h):\n    """Area of a rectangle in square units."""\n    a = w * h\n    return a\n')
    (code / "blob.py").write_bytes(b"\x00\x00")
    config = SynthConfig(corpus=[f"jsonl:{empty}"], from_dir=[code], all=True, consistency=False, hard_negatives="none", out=out)
    result = run_synthesis(config, settings, show_progress=False)
    assert {t.task_type for t in result.triplets} == {"code_explanation", "code_summary", "code_context"}
    assert result.stats.notes[f"skipped input: empty corpus jsonl:{empty}"] == 1
    assert result.stats.notes["skipped input: binary file"] == 1


def test_bad_options_fail_before_any_work(settings, tmp_path, no_encoder):
    with pytest.raises(ConfigError, match=".csv"):
        run_synthesis(SynthConfig(out=tmp_path / "x.txt"), settings, show_progress=False)
    with pytest.raises(ConfigError, match="unknown synthesis task"):
        run_synthesis(SynthConfig(tasks=["nope"], out=tmp_path / "x.csv"), settings, show_progress=False)
    with pytest.raises(ConfigError, match="GGUF"):
        run_synthesis(SynthConfig(generator="llm", out=tmp_path / "x.csv"), settings, show_progress=False)
    with pytest.raises(ConfigError, match="--hard-negatives llm needs an LLM"):
        run_synthesis(SynthConfig(hard_negatives="llm", out=tmp_path / "x.csv"), settings, show_progress=False)
    with pytest.raises(ConfigError, match="has a rule generator"):
        run_synthesis(SynthConfig(tasks=["web_code_retrieval"], out=tmp_path / "x.csv"), settings, show_progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_llm_path_end_to_end_with_the_tiny_gguf(tiny_gguf, tmp_path, no_encoder):
    from rag.settings import load_settings

    settings = load_settings(home=tmp_path / "home", llm={"max_tokens": 16, "n_threads": 1})
    config = SynthConfig(
        generator="llm",
        llm_model_path=tiny_gguf,
        tasks=["text2sql", "code_context"],
        limit=2,
        all=True,
        consistency=False,
        hard_negatives="none",
        num_examples=1,
        cache_dir=tmp_path / "cache",
        out=tmp_path / "llm.csv",
    )
    first = run_synthesis(config, settings, show_progress=False)
    stats = first.stats
    llm_outcomes = stats.stages["made"]["text2code"] + stats.total("judged_out") + stats.stages["failures"]["text2code"]
    assert stats.notes["llm: jobs"] == 2 and llm_outcomes == 2
    assert stats.stages["made"]["code2code"] == 2  # code_context needs no LLM
    assert len(read_triplets(tmp_path / "llm.csv")) == len(first.triplets)
    cached = stats.stages["made"]["text2code"] + stats.total("judged_out")
    assert len(list((tmp_path / "cache").glob("*.json"))) == cached
    second = run_synthesis(config, settings, show_progress=False)
    assert second.stats.notes["cache: hit"] == cached
    assert [t.to_json() for t in second.triplets if t.category == "text2code"] == [
        t.to_json() for t in first.triplets if t.category == "text2code"
    ]


def test_no_surviving_rows_is_an_error_that_carries_the_counts(settings, tmp_path, no_encoder):
    corpus = tmp_path / "portable.jsonl"
    corpus.write_text('{"question": "All names?", "sql": "SELECT name FROM products"}\n')
    out = tmp_path / "x.csv"
    config = SynthConfig(corpus=[f"jsonl:{corpus}"], tasks=["sql_translation"], all=True, consistency=False, hard_negatives="none", out=out)
    with pytest.raises(pipeline.NothingWritten, match="nothing was written") as caught:
        run_synthesis(config, settings, show_progress=False)
    assert caught.value.stats.notes["not applicable: sql_translation"] == 1
    assert not out.exists()
