"""Does masking a question's database words (DAIL-SQL) help retrieve examples from *other* databases?

Leave-one-database-out on a corpus split (eval.crossdb): every question ranks the questions of all
other databases' examples (both splits of the corpus); relevant = the same SQL skeleton. Variants:
plain questions, masked questions (query and pool masked with their own database's vocabulary,
rag.masking), and the reciprocal-rank fusion of the two. One table: encoder × variant × R@1, R@3,
MRR@10.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_masking.py [--minilm] [--limit N] [--corpus bundled] [--split test]

The default encoder is the configured one (`encoder_from_settings`: the shipped retriever);
`--minilm` adds the bundled all-MiniLM-L6-v2 (`load_encoder("bundled")`, torch).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from eval.crossdb import VARIANTS, CrossDbEvaluation, load_cross_db  # noqa: E402
from rag.encoders import encoder_from_settings, load_encoder  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="bundled")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N questions of the split (the pool stays whole)")
    parser.add_argument("--minilm", action="store_true", help="also the bundled all-MiniLM-L6-v2 (torch)")
    parser.add_argument("--group-by", default="auto", choices=["auto", "db", "tables"])
    args = parser.parse_args()

    settings = load_settings()
    console = Console()
    started = time.monotonic()
    queries, pool, names = load_cross_db(args.corpus, args.split, home=settings.home, limit=args.limit)
    evaluation = CrossDbEvaluation.prepare(queries, pool, group_by=args.group_by, vocabularies=names)
    prepared_s = time.monotonic() - started

    encoders = [("default", lambda: encoder_from_settings(settings))]
    if args.minilm:
        encoders.append(("all-MiniLM-L6-v2", lambda: load_encoder("bundled", models_dir=settings.models_dir)))
    rows = []
    for label, make in encoders:
        began = time.monotonic()
        encoder = make()
        results = evaluation.evaluate(encoder, template=settings.index.template)
        rows.append((label, getattr(encoder, "name", label), results, time.monotonic() - began))

    stats = rows[0][2]["stats"]
    table = Table(title=f"Cross-database retrieval, {args.corpus} {args.split}: question_sql documents, plain and masked questions")
    for header in ("encoder", "variant", "R@1", "R@3", "MRR@10", "queries"):
        table.add_column(header, justify="left" if header in ("encoder", "variant") else "right")
    for label, name, results, _ in rows:
        for variant in VARIANTS:
            metrics = results[variant]
            table.add_row(
                f"{label} ({name})" if variant == VARIANTS[0] else "",
                variant,
                f"{metrics['recall@1']:.3f}",
                f"{metrics['recall@3']:.3f}",
                f"{metrics['mrr@10']:.3f}",
                str(int(metrics["queries"])),
            )
    console.print(table)
    load = os.getloadavg()
    console.print(
        f"{stats['queries']} questions ({int(rows[0][2]['plain']['queries_without_relevant'])} without a same-skeleton example in another "
        f"database, left out), pool {stats['pool']}, {stats['databases']} databases; masked fell back to the plain question "
        f"{stats['masked_fallbacks']}×, left unchanged {stats['masked_unchanged']}×; vocabularies that did not load: "
        f"{stats['vocabulary_failures']}.\nprepare (vocabularies + masking + skeletons) {prepared_s:.1f} s; "
        + ", ".join(f"{label} {seconds:.1f} s" for label, _, _, seconds in rows)
        + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
