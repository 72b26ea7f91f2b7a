"""Bad input to `coderag eval`: one clear line on stderr, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code not in (0, None)
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def spider_files(tmp_path: Path) -> dict[str, Path]:
    """A valid two-line gold/pred pair and a database directory with db 'shop'."""
    db_dir = tmp_path / "database"
    (db_dir / "shop").mkdir(parents=True)
    with sqlite3.connect(db_dir / "shop" / "shop.sqlite") as conn:
        conn.executescript("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2);")
    conn.close()
    gold = tmp_path / "gold.sql"
    gold.write_text("SELECT a FROM t\tshop\nSELECT COUNT(*) FROM t\tshop\n", encoding="utf-8")
    pred = tmp_path / "pred.sql"
    pred.write_text("SELECT a FROM t\nSELECT 3\n", encoding="utf-8")
    return {"gold": gold, "pred": pred, "db_dir": db_dir, "dir": tmp_path}


def score_args(files: dict[str, Path]) -> list[str]:
    return ["eval", "score", "--gold", str(files["gold"]), "--pred", str(files["pred"]), "--db-dir", str(files["db_dir"])]


def test_valid_score_files_work(coderag, spider_files):
    results = spider_files["dir"] / "results.jsonl"
    code, out, err = coderag(*score_args(spider_files), "--out", str(results))
    assert code == 0, err
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["pred"]["ex"] for line in lines] == [True, False]
    assert lines[1]["pred"]["error_category"] == "wrong_result"


@pytest.mark.parametrize(
    "breakage, needle",
    [
        (lambda f: f["gold"].write_bytes(b"SELECT \xff FROM t\tshop\n"), "not UTF-8"),
        (lambda f: f["pred"].write_bytes(b"\xfe\xff\x00S\n"), "not UTF-8"),
        (lambda f: f["gold"].write_text("SELECT a FROM t shop\n"), "expected 'SQL<TAB>db_id'"),
        (lambda f: f["gold"].write_text(""), "is empty"),
        (lambda f: f["pred"].write_text("SELECT a FROM t\n"), "has 1 predictions but"),
        (lambda f: f["gold"].write_text("SELECT a FROM t\tshop\nSELECT a FROM t\tnowhere\n"), "unknown db_id 'nowhere'"),
        (lambda f: (f["db_dir"] / "shop" / "shop.sqlite").unlink(), "database file missing"),
        (lambda f: f["pred"].unlink(), "prediction file not found"),
    ],
    ids=["gold-not-utf8", "pred-not-utf8", "no-tab", "empty-gold", "count-mismatch", "unknown-db", "missing-db-file", "missing-pred"],
)
def test_bad_score_input(coderag, spider_files, breakage, needle):
    breakage(spider_files)
    results = spider_files["dir"] / "results.jsonl"
    code, _, err = coderag(*score_args(spider_files), "--out", str(results))
    assert_one_line_error(code, err, needle)
    assert not results.exists()


def write_jsonl_corpus(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--generator", "gpt"], "unknown generator 'gpt'"),
        (["--generator", "llm"], "needs a GGUF file"),
        (["--generator", "llm", "--llm-model-path", "/nonexistent/model.gguf"], "GGUF model file not found"),
        (["--template", "nope"], "unknown document template 'nope'"),
        (["--corpus", "nosuch"], "unknown corpus 'nosuch'"),
        (["--corpus", "spider:/nonexistent/spider"], "Spider directory not found"),
        (["--resume"], "--resume needs the --out directory"),
    ],
    ids=[
        "unknown-generator",
        "llm-without-model",
        "missing-gguf",
        "unknown-template",
        "unknown-corpus",
        "missing-spider",
        "resume-without-out",
    ],
)
def test_bad_run_arguments(coderag, tmp_path, args, needle):
    out = tmp_path / "run"
    code, _, err = coderag("eval", "run", *args, *([] if "--resume" in args else ["--out", str(out)]), "--no-progress")
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_run_rejects_a_file_that_is_not_gguf(coderag, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a model")
    code, _, err = coderag("eval", "run", "--generator", "llm", "--llm-model-path", str(fake), "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "not a GGUF model file")


def test_run_rejects_malformed_and_non_utf8_corpora(coderag, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "q", "sql": "SELECT 1"}\n{not json\n', encoding="utf-8")
    code, _, err = coderag("eval", "run", "--corpus", f"jsonl:{broken}", "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, "invalid JSON")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "caf\xe9", "sql": "SELECT 1"}\n')
    code, _, err = coderag("eval", "run", "--corpus", f"jsonl:{latin}", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "not UTF-8")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_run_rejects_an_empty_split(coderag, tmp_path):
    corpus = write_jsonl_corpus(
        tmp_path / "train_only.jsonl",
        [{"question": "How many?", "sql": "SELECT COUNT(*) FROM t", "context": "CREATE TABLE t (a INT);", "split": "train"}],
    )
    code, _, err = coderag("eval", "run", "--corpus", f"jsonl:{corpus}", "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "no examples in split 'test'")


def test_run_refuses_to_overwrite_or_resume_the_wrong_run(coderag, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "predictions.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    code, _, err = coderag("eval", "run", "--out", str(out), "--no-progress")
    assert_one_line_error(code, err, "already holds an evaluation run", "--resume")
    assert (out / "predictions.jsonl").read_text() == '{"id": "1"}\n'

    code, _, err = coderag("eval", "run", "--out", str(out), "--resume", "--no-progress")
    assert_one_line_error(code, err, "cannot resume")

    (out / "run.json").write_text(json.dumps({"spec": {"corpus": "bundled", "split": "test", "generator": "llm", "k": 3}}))
    code, _, err = coderag("eval", "run", "--out", str(out), "--resume", "--no-progress")
    assert_one_line_error(code, err, "cannot resume", "generator")

    code, _, err = coderag("eval", "run", "--out", str(tmp_path / "empty"), "--resume", "--no-progress")
    assert_one_line_error(code, err, "nothing to resume")


def test_retrieval_rejects_an_unknown_template(coderag):
    code, _, err = coderag("eval", "retrieval", "--template", "nope")
    assert_one_line_error(code, err, "unknown document template 'nope'")


def test_real_process_reports_bad_input_in_one_line(spider_files):
    spider_files["pred"].write_text("SELECT a FROM t\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ui.cli", *score_args(spider_files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert_one_line_error(proc.returncode, proc.stderr, "has 1 predictions but")
    assert proc.returncode == 3 and "Traceback" not in proc.stdout
