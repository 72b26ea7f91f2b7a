"""int8 schemes side by side: per-token (the default) against onnxruntime's per-tensor dynamic quantization.

    .venv/bin/python benchmarks/compare_int8.py [--model bundled|DIR] [--threads 2] [--rounds 7] [--out int8.json]

Exports the model once per scheme into a scratch directory (a model directory is copied first, so
its own onnx/ folder is not touched), then measures torch fp32, ONNX fp32 and both int8 models in
the same run with embedder/bench.py: documents/s and the median per-pass ratio to torch, single-query
latency, agreement with torch (min cosine, share of the same top-3 documents) and Recall@3 /
MRR@10 on the bundled test split. This is the measurement behind the default scheme (README,
"ONNX serving"). `per-token 8-bit w` is per-token with full 8-bit weights (before 7-bit weights
became the default): without VNNI its u8×s8 products saturate, with VNNI both are exact.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402

from embedder import quantize  # noqa: E402
from embedder.bench import format_table, measure_encoders, set_threads  # noqa: E402
from embedder.onnx_export import export_onnx  # noqa: E402
from embedder.retrieval import prepare_bundled  # noqa: E402
from rag.encoders import load_encoder, load_onnx_encoder  # noqa: E402
from rag.io import write_json_atomic  # noqa: E402
from rag.models import BUNDLED  # noqa: E402
from rag.settings import load_settings  # noqa: E402


def vnni() -> str:
    """The CPU's int8 dot-product extensions (Linux /proc/cpuinfo flags), '' if none or unknown."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    return ", ".join(sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=BUNDLED, help="bundled or a sentence-transformers model directory")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per backend (default: all cores)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    args = parser.parse_args()
    settings = load_settings()
    console = Console()
    threads = args.threads or os.cpu_count() or 1
    set_threads(threads)
    scratch = Path(tempfile.mkdtemp(prefix="coderag-int8-"))
    try:
        encoders = {"torch": load_encoder(args.model, backend="torch")}
        console.print(f"CPU int8 dot-product instructions: {vnni() or 'none (no VNNI)'}")
        shipped_per_token = quantize.per_token_int8
        for label, scheme, levels in (
            ("per-token", "per-token", quantize.WEIGHT_LEVELS),
            ("per-token 8-bit w", "per-token", 127),
            ("per-tensor", "per-tensor", None),
        ):
            folder = label.replace(" ", "-")
            if args.model == BUNDLED:
                name, models_dir = BUNDLED, scratch / folder
            else:
                name, models_dir = str(shutil.copytree(args.model, scratch / folder / "model")), None
            console.print(f"exporting {args.model} with int8 scheme {label}")
            if levels is not None:
                quantize.per_token_int8 = functools.partial(shipped_per_token, weight_levels=levels)
            try:
                export_onnx(name, quantize=True, scheme=scheme, models_dir=models_dir)
            finally:
                quantize.per_token_int8 = shipped_per_token
            if "onnx" not in encoders:
                encoders["onnx"] = load_onnx_encoder(name, quantized=False, models_dir=models_dir, threads=threads)
            encoders[f"int8 {label}"] = load_onnx_encoder(name, quantized=True, models_dir=models_dir, threads=threads)
        measured = measure_encoders(
            encoders,
            template=settings.index.template,
            evaluation=prepare_bundled(settings),
            threads=threads,
            batch_size=args.batch_size,
            rounds=args.rounds,
            log=console.print,
        )
        report = {"model": args.model, **measured}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(format_table(report))
    if args.out:
        write_json_atomic(args.out, report)
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
