"""Embedder backends side by side: torch fp32, ONNX fp32 and ONNX int8 on the same documents.

    .venv/bin/python benchmarks/bench_embedder.py [--model bundled] [--threads 2] [--rounds 5] [--out bench.json]

Exports the model first when its ONNX files are missing (`coderag embedder export-onnx --quantize
int8`), then prints documents/s, single-query latency, cosine agreement with torch and Recall@3 /
MRR@10 on the bundled test split for each backend (embedder/bench.py; `coderag embedder bench`
runs the same code). The backends take turns within each timed pass; medians are reported.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402

from embedder.bench import BACKENDS, format_table, run_bench  # noqa: E402
from embedder.onnx_export import export_onnx  # noqa: E402
from rag.io import write_json_atomic  # noqa: E402
from rag.models import INT8_FILE, export_dir_for  # noqa: E402
from rag.options import settings_from_flags  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="bundled or a model directory")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per backend (default: all cores)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--template", default=None, help="document template (default: index.template)")
    parser.add_argument("--no-eval", action="store_true", help="skip Recall@3 / MRR@10")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args()

    settings = settings_from_flags(template=args.template)
    console = Console()
    if not (export_dir_for(args.model, settings.models_dir) / INT8_FILE).is_file():
        console.print(f"exporting {args.model} to ONNX (fp32 + int8) first")
        export_onnx(args.model, quantize=True, models_dir=settings.models_dir)
    report = run_bench(
        settings,
        args.model,
        backends=BACKENDS,
        threads=args.threads,
        batch_size=args.batch_size,
        rounds=args.rounds,
        evaluate=not args.no_eval,
        log=console.print,
    )
    console.print(format_table(report))
    if args.out:
        write_json_atomic(args.out, report)
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
