"""Schema linking at 11, 300 and 1,000 tables: what reaches the prompt, and the offline answers built from it.

    HF_HUB_OFFLINE=1 python benchmarks/bench_linking.py [--split calibration|heldout|all] [--scales native,300,1000]
                                                        [--budget 8000] [--out FILE.json]

Data: the three fixture databases of `tests/fixtures/linking` and the 138 questions of
`benchmarks/data/linking/questions.jsonl`, written before any linking rule (README there); rules and
thresholds were only ever looked at on the calibration half. `native` asks each question of its own
database (12-13 tables); 300 and 1000 ask every question of one file holding all three databases'
tables shuffled among generated distractor tables (`make_large`).

Per scale, for the prompt (an LLM's view; `before` is the old cut of the whole schema at 12,000
characters, `after` the linked schema within `--budget` characters):
- link recall: every gold table and every gold column is in the prompt's schema part;
- value recall: every string the gold SQL compares with is in the prompt, as stored;
- schema characters in the prompt.
Offline (knn, no LLM; without `--store` these databases have no examples: what a user gets before `db add`;
with `--store` each is `db add`ed first), `before` with
linking off, `after` with it on:
- answered: the share answered at the configured confidence threshold; precision: of those, the
  share whose result equals the gold result; EX: always answering (`--force`);
- unanswerable questions: the share that abstains;
- seconds per question (after the database's first question, which reads its description).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from fixtures.linking.databases import build_all  # noqa: E402
from fixtures.linking.large import make_large  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tqdm import tqdm  # noqa: E402

from rag.chain import TextToSQL  # noqa: E402
from rag.errors import SQLError  # noqa: E402
from rag.execution import results_match  # noqa: E402
from rag.io import read_jsonl  # noqa: E402
from rag.prompts import format_values, schema_part, trim_schema  # noqa: E402
from rag.sandbox import ReadOnlyDatabase  # noqa: E402
from rag.settings import load_settings  # noqa: E402

QUESTIONS = ROOT / "benchmarks" / "data" / "linking" / "questions.jsonl"


def in_prompt(text: str, tables: list[str], columns: list[str]) -> tuple[bool, bool]:
    """Whether every gold table, and every gold table.column, appears in a schema text (DDL or linked form)."""
    lower = text.lower()

    def has_table(name: str) -> bool:
        return bool(re.search(rf"(create table|# table:)\s+[\"`\[]?{re.escape(name.lower())}[\"`\]]?[\s(]", lower))

    def has_column(table: str, column: str) -> bool:
        block = _block(lower, table.lower())
        return block is not None and re.search(rf"(^|[\s,(\"`\[]){re.escape(column.lower())}([\"`\]]?[\s:,)]|$)", block, re.M) is not None

    table_ok = all(has_table(t) for t in tables)
    return table_ok, table_ok and all(has_column(*c.split(".", 1)) for c in columns)


def _block(text: str, table: str) -> str | None:
    m = re.search(rf"(create table|# table:)\s+[\"`\[]?{re.escape(table)}[\"`\]]?[\s(]", text)
    if m is None:
        return None
    nxt = re.search(r"(create table|# table:|# joins)", text[m.end() :])
    return text[m.start() : m.end() + (nxt.start() if nxt else len(text))]


def run_scale(
    label: str,
    files: dict[str, Path],
    questions: list[dict[str, Any]],
    service_on: TextToSQL,
    service_off: TextToSQL,
    budget: int,
    keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    opened = {name: ReadOnlyDatabase.open(path) for name, path in {p: p for p in set(files.values())}.items()}
    first_seen: set[Path] = set()
    for q in tqdm(questions, desc=f"{label} tables", unit="q"):
        path = files[q["db"]]
        db = opened[path]
        key = (keys or {}).get(q["db"], f"bench-{label}")
        schema_sql = db.schema_sql()
        started = time.perf_counter()
        on = service_on.ask(q["question"], db, db_key=key)
        seconds = time.perf_counter() - started
        warm = path in first_seen
        first_seen.add(path)
        link = service_on.link(q["question"], db)
        after_schema = schema_part(schema_sql, link, budget)
        before_schema = trim_schema(schema_sql, 12000)
        row: dict[str, Any] = {
            "kind": q["kind"],
            "seconds": seconds,
            "warm": warm,
            "answerable": q["sql"] is not None,
            "after_chars": len(after_schema),
            "before_chars": len(before_schema),
        }
        if q["sql"] is None:
            row["after_abstained"] = on.error_kind == "abstain"
            off = service_off.ask(q["question"], db, db_key=key)
            row["before_abstained"] = off.error_kind == "abstain"
            rows.append(row)
            continue
        gold = db.execute(q["sql"])
        row["after_tables"], row["after_recall"] = in_prompt(after_schema, q["tables"], q["columns"])
        row["before_tables"], row["before_recall"] = in_prompt(before_schema, q["tables"], q["columns"])
        values_text = format_values(link) + after_schema
        row["value_recall"] = all(f"'{v}'" in values_text for v in q["values"]) if q["values"] else None
        for arm, service in (("after", service_on), ("before", service_off)):
            answer = on if arm == "after" else service.ask(q["question"], db, db_key=key)
            forced = answer if answer.error_kind != "abstain" else service.ask(q["question"], db, db_key=key, force=True)
            row[f"{arm}_answered"] = answer.error is None
            row[f"{arm}_right"] = bool(answer.error is None and _same(db, gold, answer.sql))
            row[f"{arm}_forced"] = bool(forced.error is None and _same(db, gold, forced.sql))
            row[f"{arm}_composed"] = answer.composed is not None
        rows.append(row)
    for db in opened.values():
        db.close()
    return summarize(rows)


def _same(db: ReadOnlyDatabase, gold: Any, sql: str | None) -> bool:
    if not sql:
        return False
    try:
        return results_match(gold, db.execute(sql), ordered="order by" in sql.lower())
    except SQLError:
        return False


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    out: dict[str, Any] = {"questions": len(rows), "answerable": len(answerable)}
    for arm in ("before", "after"):
        answered = [r for r in answerable if r[f"{arm}_answered"]]
        out[arm] = {
            "table_recall": mean(r[f"{arm}_tables"] for r in answerable),
            "link_recall": mean(r[f"{arm}_recall"] for r in answerable),
            "schema_chars": median(r[f"{arm}_chars"] for r in rows),
            "answered": len(answered) / len(answerable),
            "precision": (sum(r[f"{arm}_right"] for r in answered) / len(answered)) if answered else None,
            "ex_forced": mean(r[f"{arm}_forced"] for r in answerable),
            "unanswerable_abstained": mean(r[f"{arm}_abstained"] for r in unanswerable) if unanswerable else None,
        }
    values = [r["value_recall"] for r in answerable if r["value_recall"] is not None]
    out["after"]["value_recall"] = mean(values) if values else None
    warm = [r["seconds"] for r in rows if r["warm"]]
    out["after"]["seconds_median"] = median(warm) if warm else None
    out["after"]["seconds_p90"] = sorted(warm)[int(0.9 * (len(warm) - 1))] if warm else None
    out["after"]["first_question_s"] = max((r["seconds"] for r in rows if not r["warm"]), default=None)
    kinds: dict[str, list[bool]] = {}
    for r in answerable:
        kinds.setdefault(r["kind"], []).append(r["after_forced"])
    out["after"]["ex_by_kind"] = {k: round(mean(v), 2) for k, v in sorted(kinds.items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="calibration", choices=["calibration", "heldout", "all"])
    parser.add_argument("--scales", default="native,300,1000")
    parser.add_argument("--budget", type=int, default=8000)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--store", action="store_true", help="`coderag db add` each database first (its synthesized store), as a user would"
    )
    args = parser.parse_args()
    questions = [q for q in read_jsonl(QUESTIONS) if args.split == "all" or q["split"] == args.split]
    work = Path(tempfile.mkdtemp(prefix="bench-linking-"))
    natives = build_all(work / "native")
    scales = args.scales.split(",")
    files_of = {
        scale: natives if scale == "native" else {n: make_large(work / f"large-{scale}.sqlite", int(scale)) for n in natives}
        for scale in scales
    }
    keys_of: dict[str, dict[str, str]] = {}
    added: dict[str, float] = {}
    if args.store:  # what `db add` gives a user: a store synthesized from the database, then asked by its name
        for scale in scales:
            keys_of[scale] = {}
            for name, path in files_of[scale].items():
                key = name if scale == "native" else f"large{scale}"
                if key not in added:
                    started = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-m", "ui.cli", "db", "add", str(path), "--name", key],
                        check=True,
                        env={**os.environ, "CODERAG_HOME": str(work / "home")},
                        stdout=subprocess.DEVNULL,
                    )
                    added[key] = time.perf_counter() - started
                keys_of[scale][name] = key
    if args.store:  # a user's `coderag ask` process, start to finish (imports, index, link, answer); the first run warms the caches
        question = next(q["question"] for q in questions if q["sql"] is not None)
        for scale in scales:
            key = next(iter(keys_of[scale].values()))
            walls = []
            for _ in range(4):
                started = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "ui.cli", "ask", "--db", key, question],
                    env={**os.environ, "CODERAG_HOME": str(work / "home")},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
                walls.append(time.perf_counter() - started)
            added[f"ask process at {scale} tables (median of 3 after the first)"] = median(walls[1:])
    settings_on = load_settings(home=str(work / "home"), generator="knn")
    settings_off = settings_on.model_copy(update={"linking": settings_on.linking.model_copy(update={"enabled": False})})
    service_on = TextToSQL.from_settings(settings_on)
    service_off = TextToSQL(settings_off, service_on.index, service_on.encoder, service_on.generator)
    results: dict[str, Any] = {
        "split": args.split,
        "budget": args.budget,
        "machine": os.uname().nodename,
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d"),
        "store": args.store,
        "db_add_s": added,
    }
    for scale in scales:
        results[scale] = run_scale(scale, files_of[scale], questions, service_on, service_off, args.budget, keys_of.get(scale))
    results["load_after"] = os.getloadavg()[0]
    show(results, args.scales.split(","))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


def show(results: dict[str, Any], scales: list[str]) -> None:
    store = "with each database's `db add` store" if results.get("store") else "no store"
    table = Table(
        title=f"Linking, {results['split']} questions, {store} (load {results['load']:.1f} → {results['load_after']:.1f}, {results['date']})"
    )
    for column in (
        "tables",
        "arm",
        "link recall",
        "value recall",
        "schema chars",
        "answered",
        "precision",
        "EX (forced)",
        "abstains on unanswerable",
        "s/question",
    ):
        table.add_column(column, justify="right")
    for scale in scales:
        r = results[scale]
        for arm in ("before", "after"):
            a = r[arm]
            table.add_row(
                scale if arm == "before" else "",
                arm,
                f"{a['link_recall']:.2f}",
                f"{a['value_recall']:.2f}" if a.get("value_recall") is not None else "–",
                f"{a['schema_chars']:,.0f}",
                f"{a['answered']:.2f}",
                "–" if a["precision"] is None else f"{a['precision']:.2f}",
                f"{a['ex_forced']:.2f}",
                "–" if a["unanswerable_abstained"] is None else f"{a['unanswerable_abstained']:.2f}",
                f"{a['seconds_median']:.2f} (p90 {a['seconds_p90']:.2f})" if a.get("seconds_median") is not None else "",
            )
    Console(width=200).print(table)
    for scale in scales:
        print(scale, "EX by kind (after, forced):", results[scale]["after"]["ex_by_kind"])
    if results.get("db_add_s"):
        print("seconds:", {k: round(v, 2) for k, v in results["db_add_s"].items()})


if __name__ == "__main__":
    main()
