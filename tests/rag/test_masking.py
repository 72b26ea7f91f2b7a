"""rag.masking: golden masking cases (tests/fixtures/masking/golden.jsonl) on real read-only
databases, the fallback, placeholder-like input, and bounded value sampling on hostile schemas."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

import rag.masking
from rag.execution import DatabaseSource
from rag.masking import (
    EMPTY,
    PLACEHOLDERS,
    MaskingLimits,
    Vocabulary,
    VocabularyCache,
    mask,
    mask_question,
    vocabulary_of,
)
from rag.sandbox import ReadOnlyDatabase
from rag.words import normalize_word, split_identifier

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "masking" / "golden.jsonl"
_RECORDS = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
SCHEMAS = {r["schema"]: r["script"] for r in _RECORDS if "script" in r}
CASES = [r for r in _RECORDS if "question" in r]
PLACEHOLDER = re.compile(r"<(table|column|value|number)>")


@pytest.fixture(scope="module")
def vocabularies() -> dict[str, Vocabulary]:
    out = {}
    for name, script in SCHEMAS.items():
        if not script:
            out[name] = EMPTY
            continue
        with ReadOnlyDatabase.from_script(script) as database:
            out[name] = vocabulary_of(database)
    return out


def test_doctests():
    result = doctest.testmod(rag.masking)
    assert result.attempted > 0 and result.failed == 0


def test_golden_file_is_sound():
    assert len(CASES) >= 20
    assert all(case["schema"] in SCHEMAS for case in CASES)
    assert any(case["masked"] == case["question"] for case in CASES), "the fallback has golden cases"


@pytest.mark.parametrize("case", CASES, ids=[f"{c['schema']}:{c['question'][:40]}" for c in CASES])
def test_golden(case, vocabularies):
    assert mask_question(case["question"], vocabularies[case["schema"]]) == case["masked"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['schema']}:{c['question'][:40]}" for c in CASES])
def test_placeholders_are_exactly_the_masks(case, vocabularies):
    masked = mask(case["question"], vocabularies[case["schema"]])
    found = PLACEHOLDER.findall(masked.text)
    if masked.fell_back or not masked.spans:
        assert found == []
    else:
        assert 0 < len(found) <= len(masked.spans)  # adjacent parts of one name merge into one mask
        assert re.sub(r"[\W\d_]+", "", PLACEHOLDER.sub("", masked.text)), "a word is left"


def test_sampled_values_and_names(vocabularies):
    shop = vocabularies["shop"]
    assert {"Order Details", "categories", "café"} <= set(shop.tables)
    assert {"unitPrice", 'the "best" score', "prix_unitaire"} <= set(shop.columns)
    assert {"Blue Widget", "C++ Primer", "<column>", "São Paulo"} <= set(shop.values)
    assert not shop.truncated


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("appt_date", ["appt", "date"]),
        ("patientVisits", ["patient", "Visits"]),
        ("XMLHttpRequest", ["XML", "Http", "Request"]),
        ("e-mail", ["e", "mail"]),
        ("amount (EUR)", ["amount", "EUR"]),
        ("Straße_2", ["Straße", "2"]),
        ("__", []),
    ],
)
def test_split_identifier(name, words):
    assert split_identifier(name) == words


@pytest.mark.parametrize(
    ("plural", "single"),
    [("categories", "category"), ("addresses", "address"), ("buses", "bus"), ("glasses", "glass"), ("status", "status"), ("sales", "sale")],
)
def test_plural_meets_singular(plural, single):
    assert normalize_word(plural) == normalize_word(single) or normalize_word(plural) == single


def test_function_and_query_words_are_not_masked_alone():
    vocab = Vocabulary.from_names(tables=["order"], columns=["count", "top", "name"], values=["No", "the"])
    assert mask_question("What is the top count of names in no order?", vocab) == "What is the top count of <column> in no order?"


def test_multi_word_names_mask_whole_even_with_query_words():
    vocab = Vocabulary.from_names(tables=["order_items"], columns=["first_name", "total_amount"])
    assert mask_question("Sum the total amount of order items per first name", vocab) == "Sum the <column> of <table> per <column>"


def test_no_vocabulary_masks_numbers_dates_and_quotes_only():
    assert mask_question('Orders over 20 placed on 2024-05-01 by "Ann Lee"') == "Orders over <number> placed on <value> by <value>"
    assert mask_question("Which patients aren't in the doctor's list?") == "Which patients aren't in the doctor's list?"


def test_fallback_keeps_the_plain_question():
    vocab = Vocabulary.from_names(tables=["employees"], columns=["salary"])
    for question in ["employees salary", "Employees: salary?", "12 34.5", "'x'"]:
        masked = mask(question, vocab)
        assert masked.fell_back and masked.text == question and masked.spans == ()


def test_placeholder_syntax_in_questions_and_values():
    vocab = Vocabulary.from_names(tables=["notes"], values=["<value>", "<b>bold</b>"])
    masked = mask_question("Which notes say <value> or <b>bold</b> or <number> times?", vocab)
    assert masked == "Which <table> say <value> or <value> or ‹number› times?"
    assert PLACEHOLDER.findall(masked) == ["table", "value", "value"]


def test_values_longer_than_the_cap_are_dropped():
    vocab = Vocabulary.from_names(values=["short", "x" * 65], max_value_chars=64)
    assert vocab.values == ("short",)


def _file_db(path: Path, statements: list[str]) -> Path:
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
    return path


def test_thousands_of_columns_are_bounded(tmp_path):
    statements = []
    for t in range(40):
        statements.append(f'CREATE TABLE "wide {t}" (' + ", ".join(f'"col_{t}_{c}" TEXT' for c in range(100)) + ")")
        values = ", ".join(f"'v{t}_{c}_{r}'" for c in range(100) for r in range(1))
        statements.append(f'INSERT INTO "wide {t}" VALUES ({values})')
    path = _file_db(tmp_path / "wide.sqlite", statements)
    limits = MaskingLimits(max_value_columns=300, max_values=250, budget_s=5.0)
    started = time.monotonic()
    with ReadOnlyDatabase.open(path) as database:
        vocab = vocabulary_of(database, limits)
    assert time.monotonic() - started < 5.0 + 2.0
    assert len(vocab.tables) == 40 and len(vocab.columns) == 4000  # every name, whatever the value caps
    assert 0 < len(vocab.values) <= 250 and vocab.truncated
    assert mask_question("Which wide 7 rows have col 7 3 set?", vocab) == "Which <table> rows have <column> set?"


def test_time_budget_stops_sampling(tmp_path):
    path = _file_db(tmp_path / "t.sqlite", ["CREATE TABLE a (x TEXT)", "INSERT INTO a VALUES ('alpha')"])
    with ReadOnlyDatabase.open(path) as database:
        vocab = vocabulary_of(database, MaskingLimits(budget_s=0.0))
    assert vocab.values == () and vocab.truncated


def test_huge_text_values_stay_in_sqlite(tmp_path):
    statements = ["CREATE TABLE docs (title TEXT, body TEXT, data BLOB)"]
    statements += [f"INSERT INTO docs VALUES ('Report {i}', '{'lorem ipsum ' * 20_000}', randomblob(100000))" for i in range(30)]
    path = _file_db(tmp_path / "big.sqlite", statements)
    with ReadOnlyDatabase.open(path) as database:
        vocab = vocabulary_of(database, MaskingLimits(values_per_column=10))
    assert set(vocab.values) == {f"Report {i}" for i in range(10)}
    assert all(len(v) <= 64 for v in vocab.values)


def test_vocabulary_reads_files_without_changing_them(tmp_path):
    path = _file_db(tmp_path / "shop.sqlite", ["CREATE TABLE shops (shop_name TEXT)", "INSERT INTO shops VALUES ('Corner Store')"])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    cache = VocabularyCache()
    vocab = cache.get(DatabaseSource(path=str(path)))
    assert vocab.values == ("Corner Store",) and "shops" in vocab.tables
    assert cache.get(DatabaseSource(path=str(path))) is vocab
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.sqlite"]


def test_sources_that_do_not_load_mask_without_a_vocabulary(tmp_path):
    cache = VocabularyCache()
    assert cache.get(DatabaseSource(path=str(tmp_path / "missing.sqlite"))) is EMPTY
    assert cache.get(DatabaseSource(context="CREATE TABLE (((")) is EMPTY
    assert cache.get(DatabaseSource(context="")) is EMPTY
    assert cache.failures == 2


def test_context_scripts_give_names_and_values():
    cache = VocabularyCache()
    vocab = cache.get(
        DatabaseSource(context="CREATE TABLE flights (flight_no TEXT, origin TEXT); INSERT INTO flights VALUES ('XY12', 'Oslo');")
    )
    assert (
        mask_question("Which flights leave from oslo with flight no XY12?", vocab)
        == "Which <table> leave from <value> with <column> <value>?"
    )
    assert set(PLACEHOLDERS) == {"table", "column", "value", "number"}
