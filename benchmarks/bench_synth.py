"""Rule-based synthesis speed over a 10,000-example corpus (target: ≤ 60 s on 2 cores).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_synth.py            # 10,000 examples, 1 and 2 workers
    .venv/bin/python benchmarks/bench_synth.py --examples 2000 --workers 2

The bundled train split (255 examples) is replicated to the requested size; every copy renames
its tables (`patients` → `patients_17`) in the database script and the SQL, so each example has
its own database and the SQL differs, as in a real corpus of that size. Timed: snippets from
examples, rule generation (every rule task; each rule that runs SQL builds that example's
database), deduplication. No embedder is involved (see the README for the curated run).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from rag.corpus import Example, load_bundled
from synth.curate import deduplicate
from synth.rules import generate_rule_triplets
from synth.sources import snippets_from_examples
from synth.stats import SynthStats
from synth.tasks import select_tasks


def replicate(examples: list[Example], size: int) -> list[Example]:
    """`size` examples: copies of `examples` with their tables renamed per copy."""
    out: list[Example] = []
    copy = 0
    while len(out) < size:
        for ex in examples:
            if len(out) >= size:
                break
            tables = re.findall(r"CREATE TABLE\s+(\w+)", ex.context, flags=re.IGNORECASE)
            context, sql = ex.context, ex.sql
            if copy:
                for table in sorted(set(tables), key=len, reverse=True):
                    pattern = re.compile(rf"\b{re.escape(table)}\b")
                    context, sql = pattern.sub(f"{table}_{copy}", context), pattern.sub(f"{table}_{copy}", sql)
            out.append(replace(ex, id=f"{ex.id}-{copy}", sql=sql, context=context, db_id=f"{ex.db_id}-{copy}"))
        copy += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to time")
    args = parser.parse_args()

    examples = replicate(load_bundled("train"), args.examples)
    tasks = [t for t in select_tasks(None) if t.rule is not None]
    table = Table(title=f"Rule-based synthesis, {len(examples):,} examples, {len(tasks)} rule tasks, {os.cpu_count()} CPUs")
    for column in ("workers", "rules s", "total s", "CPU s", "idle 2-core s", "triplets", "examples/s", "≤ 60 s"):
        table.add_column(column, justify="right")
    load_before = os.getloadavg()[0]
    for workers in (int(w) for w in args.workers.split(",")):
        cpu_started = _cpu_seconds()
        started = time.perf_counter()
        snippets = snippets_from_examples(examples).snippets
        t_snippets = time.perf_counter()
        triplets, _ = generate_rule_triplets(snippets, tasks, seed=0, workers=workers, show_progress=False)
        t_rules = time.perf_counter()
        kept = deduplicate(triplets, SynthStats())
        t_end = time.perf_counter()
        total = t_end - started
        cpu = _cpu_seconds() - cpu_started
        table.add_row(
            str(workers),
            f"{t_rules - t_snippets:.1f}",
            f"{total:.1f}",
            f"{cpu:.1f}",
            f"{cpu / min(workers, 2):.1f}",
            f"{len(kept):,}",
            f"{len(examples) / total:,.0f}",
            "yes" if total <= 60 else "no",
        )
    console = Console()
    console.print(table)
    console.print(
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after on {os.cpu_count()} CPUs: wall times above "
        "include waiting for other processes; 'idle 2-core s' is CPU time / min(workers, 2), the wall time on two idle cores."
    )


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished worker processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
