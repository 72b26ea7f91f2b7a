"""`coderag synth` and `coderag synth review FILE` through the real command line."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synth import pipeline
from synth.pipeline import SHIPPED
from synth.triplets import Triplet, read_triplets, write_triplets
from ui import cli as root_cli


@pytest.fixture(scope="module")
def app():
    return root_cli.app


def run(app, *args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=True)


def test_list_tasks(app):
    result = run(app, "synth", "--list-tasks")
    assert result.exit_code == 0, result.output
    assert "sql_bug_description" in result.output and "hybrid" in result.output


@pytest.mark.slow
def test_synth_writes_the_default_path_and_leaves_the_shipped_set_alone(app, encoder, settings, monkeypatch):
    monkeypatch.setattr(pipeline, "encoder_from_settings", lambda s: encoder)
    shipped = hashlib.sha256(SHIPPED.read_bytes()).hexdigest() if SHIPPED.exists() else None
    result = run(app, "synth", "--tasks", "text2sql,sql_explanation", "--per-category", "2", "--pool-size", "16", "--quiet")
    assert result.exit_code == 0, result.output
    out = settings.home / "synth" / "curated_triplets.csv"
    assert f"wrote 4 triplets → {out}" in result.output.replace("\n", "")
    assert "Synthesis summary" in result.output
    assert len(read_triplets(out)) == 4
    if shipped:
        assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == shipped


def test_bad_option_is_one_line_and_a_nonzero_exit(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "from ui.cli import main; main()", "synth", "--generator", "bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: invalid option generator: Input should be 'rules', 'llm' or 'openai'"]
    assert "Traceback" not in done.stderr


def review_file(tmp_path):
    rows = []
    for category in ("text2code", "hybrid"):
        for i in range(3):
            rows.append(
                Triplet(query=f"{category} q{i}", pos=f"SELECT {i}", category=category, task_type="t", source=f"s{i}", neg="SELECT -1")
            )
    path, _ = write_triplets(rows, tmp_path / "cand.csv")
    return path


def test_review_accepts_and_rejects_from_stdin(app, tmp_path):
    path = review_file(tmp_path)
    result = run(app, "synth", "review", str(path), "--target", "1", input="r\na\nx\na\n")
    assert result.exit_code == 0, result.output
    reviewed = read_triplets(tmp_path / "cand.reviewed.csv")
    assert [r.query for r in reviewed] == ["text2code q1", "hybrid q0"]  # "x" is asked again; text2code q2 skipped (target met)
    assert all(r.meta.get("review") == "accepted" for r in read_triplets(tmp_path / "cand.reviewed.jsonl"))


def test_review_stops_at_end_of_input_and_writes_what_was_accepted(app, tmp_path):
    path = review_file(tmp_path)
    out = tmp_path / "kept.csv"
    result = run(app, "synth", "review", str(path), "--out", str(out), input="a\n")
    assert result.exit_code == 0, result.output
    assert [r.query for r in read_triplets(out)] == ["text2code q0"]


def test_review_with_nothing_accepted_writes_nothing(app, tmp_path):
    path = review_file(tmp_path)
    result = run(app, "synth", "review", str(path), input="q\n")
    assert result.exit_code != 0
    assert "no rows were accepted" in str(result.exception)
    assert not (tmp_path / "cand.reviewed.csv").exists()
