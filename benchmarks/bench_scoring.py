"""Scoring speed: EX + EM + EM-AST for 1,000 prediction/gold pairs on the bundled databases.

    .venv/bin/python benchmarks/bench_scoring.py [--pairs 1000] [--repeat 3]

Predictions are the bundled corpus's gold queries (train + test, 330) perturbed in fixed ways
(keyword case and whitespace, a flipped equality, a changed literal, a flipped comparison, a
dropped ORDER BY, a broken query, an unknown column, ...). One `Scorer` scores them all, as
`coderag eval run` and `coderag eval score` do: each gretel context is built into an in-memory
SQLite database once and each gold query runs once. The "no caches" row starts a new Scorer
(database and gold caches empty) for every pair, for comparison. The machine may be shared:
CPU seconds are the steadier number. Target: 1,000 pairs in at most 10 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable

from eval.scoring import Scorer
from rag.corpus import Example, load_corpus
from rag.execution import DatabaseSource

_KEYWORDS = re.compile(r"\b(SELECT|FROM|WHERE|GROUP BY|ORDER BY|AND|OR|AS|JOIN|ON|LIMIT|DESC|COUNT|SUM|AVG)\b")


def _case_and_space(sql: str) -> str:
    return "  ".join(_KEYWORDS.sub(lambda m: m.group(1).lower(), sql).split()) + " ;"


def _swap_equality(sql: str) -> str:
    return re.sub(r"([\w.]+) = ('[^']*')", r"\2 = \1", sql, count=1)


def _bump_number(sql: str) -> str:
    return re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + 1), sql, count=1)


def _flip_comparison(sql: str) -> str:
    return sql.replace(">", ">=", 1) if ">" in sql else sql.replace("=", "!=", 1)


def _drop_order_by(sql: str) -> str:
    return re.sub(r"\s+ORDER\s+BY\s+[^;]*?(?=(\s+LIMIT\b|;|$))", "", sql, count=1, flags=re.IGNORECASE)


def _count_one(sql: str) -> str:
    return sql.replace("COUNT(*)", "COUNT(1)")


def _broken(sql: str) -> str:
    return sql.rstrip(";")[: max(8, len(sql) // 2)] + " WHERE ("


def _unknown_column(sql: str) -> str:
    return re.sub(r"^(\s*SELECT\s+)", r"\1no_such_column, ", sql, count=1, flags=re.IGNORECASE)


PERTURBATIONS: tuple[Callable[[str], str], ...] = (
    lambda sql: sql,
    _case_and_space,
    _swap_equality,
    _bump_number,
    _flip_comparison,
    _drop_order_by,
    _count_one,
    _broken,
    _unknown_column,
)


def make_pairs(examples: list[Example], count: int) -> list[tuple[str, Example]]:
    pairs = []
    for position in range(count):
        example = examples[position % len(examples)]
        perturb = PERTURBATIONS[(position + position // len(examples)) % len(PERTURBATIONS)]
        pairs.append((perturb(example.sql), example))
    return pairs


def score_all(pairs: list[tuple[str, Example]], *, reuse_databases: bool) -> tuple[float, float, Counter, Scorer]:
    """(wall seconds, CPU seconds, outcome counts, the scorer) for scoring every pair."""
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome: Counter = Counter()
    scorer = Scorer(timeout_s=5.0)
    for prediction, example in pairs:
        if not reuse_databases:
            scorer.close()
            scorer = Scorer(timeout_s=5.0)
        gold = scorer.gold(example.sql, DatabaseSource.for_example(example))
        if gold.excluded:
            outcome["excluded"] += 1
            continue
        score = scorer.score(prediction, gold)
        outcome["ex"] += score.ex
        outcome["em"] += score.em
        outcome["em_ast"] += score.em_ast
        outcome[score.category or "correct"] += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    scorer.close()
    return elapsed, cpu, outcome, scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the fastest is reported (like timeit)")
    args = parser.parse_args()

    examples = load_corpus("bundled", None)
    pairs = make_pairs(examples, args.pairs)
    contexts = len({e.context for _, e in pairs})
    rows = []
    for label, reuse in (("per-run database cache", True), ("no caches (new Scorer per pair)", False)):
        runs = [score_all(pairs, reuse_databases=reuse) for _ in range(args.repeat)]
        rows.append((label, *min(runs, key=lambda run: run[0])))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load:.1f}")
    print(f"{len(pairs)} pairs over {contexts} distinct bundled databases, fastest of {args.repeat} runs per mode\n")
    header = (
        f"| {'mode':<31} | {'pairs':>5} | {'wall s':>6} | {'CPU s':>5} | {'pairs/s':>7} | {'DB builds':>9} "
        f"| {'EX %':>5} | {'EM %':>5} | {'EM-AST %':>8} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for label, elapsed, cpu, outcome, scorer in rows:
        scored = len(pairs) - outcome["excluded"]
        builds = scorer.databases.builds if label.startswith("per-run") else len(pairs)
        print(
            f"| {label:<31} | {len(pairs):>5} | {elapsed:>6.2f} | {cpu:>5.2f} | {len(pairs) / elapsed:>7.0f} | {builds:>9} | "
            f"{100 * outcome['ex'] / scored:>5.1f} | {100 * outcome['em'] / scored:>5.1f} | {100 * outcome['em_ast'] / scored:>8.1f} |"
        )
    categories = rows[0][3]
    print(
        "\noutcomes: "
        + ", ".join(
            f"{k} {categories[k]}" for k in ("correct", "wrong_result", "execution_error", "parse_error", "no_sql", "timeout", "excluded")
        )
    )


if __name__ == "__main__":
    main()
