"""`coderag embedder tokenizer | pairs | mine`: the data a retriever trains on (a tokenizer, public
(text, code) pairs, fresh hard negatives)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from embedder.commands.common import MaxLengthOption, ModelOption, OverwriteOption, SeedOption, TemperatureOption, out
from rag.errors import ConfigError
from rag.options import settings_from_flags


def tokenizer(
    out_name: Annotated[str, typer.Option("--out", help="Tokenizer directory (a bare NAME goes under the models dir).")],
    inputs: Annotated[
        list[Path] | None,
        typer.Option("--input", help="Files or directories of code/text, JSONL/CSV pairs (repeatable; default: the bundled corpus)."),
    ] = None,
    vocab_size: Annotated[int, typer.Option("--vocab-size", min=200)] = 32000,
    min_frequency: Annotated[int, typer.Option("--min-frequency", min=1)] = 2,
    max_length: MaxLengthOption = 256,
    overwrite: OverwriteOption = False,
) -> None:
    """Train a WordPiece tokenizer on raw code and text for `embedder train-scratch`.

    Example: coderag embedder tokenizer --out my-tokenizer --input ~/src/myproject"""
    from tokenizers import Tokenizer

    from embedder.tokenizer import bundled_texts, iter_texts, train_tokenizer
    from embedder.workdir import resolve_out

    target = resolve_out(settings_from_flags(), out_name, "tokenizer")
    texts = iter_texts(inputs) if inputs else bundled_texts()
    train_tokenizer(texts, target, vocab_size=vocab_size, min_frequency=min_frequency, max_length=max_length, overwrite=overwrite)
    size = Tokenizer.from_file(str(target / "tokenizer.json")).get_vocab_size()
    out.print(f"saved tokenizer ({size} tokens) → {target}")


def pairs(
    source: Annotated[str, typer.Argument(help="codexglue | mbpp | humaneval | leetcode | code-rag-bench")],
    out_file: Annotated[Path, typer.Option("--out", help="JSONL file to write (anchor, positive, source, split).")],
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="A local parquet/JSONL/CSV with the hub dataset's columns (offline).")
    ] = None,
    split: Annotated[list[str] | None, typer.Option("--split", help="Hub split(s) to read (default: all of the source's).")] = None,
    language: Annotated[str | None, typer.Option("--language", help="codexglue language: python, java, javascript, go, php, ruby.")] = None,
    subset: Annotated[str | None, typer.Option("--subset", help="code-rag-bench dataset: mbpp, humaneval, ds1000, odex.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after N pairs.")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Download public (text, code) pairs through `datasets` as training JSONL.

    Example: coderag embedder pairs mbpp --out mbpp_pairs.jsonl --limit 1000"""
    from embedder.pairs import iter_pairs, write_pairs

    count = write_pairs(
        iter_pairs(source, from_file=from_file, splits=split, language=language, subset=subset, limit=limit), out_file, overwrite=overwrite
    )
    out.print(f"wrote {count} pairs → {out_file}")


def mine(
    model: ModelOption,
    data: Annotated[Path, typer.Option("--data", help="Triplet file (CSV or JSONL).")],
    out_file: Annotated[Path, typer.Option("--out", help="Triplet CSV to write (JSONL with every negative alongside).")],
    depth: Annotated[int, typer.Option("--depth", min=1, help="Neighbours examined per query.")] = 30,
    margin: Annotated[
        float,
        typer.Option("--margin", min=0.0, help="Skip candidates scoring within this margin of the positive (likely false negatives)."),
    ] = 0.05,
    strategy: Annotated[
        str, typer.Option("--strategy", help="softmax (sample by score / temperature) | rank (uniform in the top --depth).")
    ] = "softmax",
    temperature: TemperatureOption = 0.05,
    num_negatives: Annotated[int, typer.Option("--num-negatives", min=1, max=64, help="Negatives per row (the CSV keeps the first).")] = 1,
    seed: SeedOption = 0,
    overwrite: OverwriteOption = False,
) -> None:
    """Mine fresh hard negatives with a model (then train again from it: two commands per round).

    Example: coderag embedder mine --model my-embedder --data all_triplets.csv --out mined.csv"""
    from embedder.mining import refresh_negatives
    from rag.encoders import load_encoder
    from synth.mining import MiningConfig
    from synth.triplets import read_triplets, write_triplets

    if out_file.suffix.lower() != ".csv":
        raise ConfigError(f"--out must be a .csv file (the .jsonl is written alongside): {out_file}")
    if (out_file.exists() or out_file.with_suffix(".jsonl").exists()) and not overwrite:
        raise ConfigError(f"{out_file} (or its .jsonl) already exists", hint="pass --overwrite to replace it")
    config = MiningConfig(
        top_k=depth,
        strategy=cast(Literal["rank", "softmax"], strategy),  # MiningConfig rejects any other
        rank_range=(0, depth),
        temperature=temperature,
        margin=margin,
        num_negatives=num_negatives,
        seed=seed,
    )
    triplets = read_triplets(data)
    encoder = load_encoder(model, models_dir=settings_from_flags().models_dir)
    counts = refresh_negatives(encoder, triplets, config, f"embedder mine ({encoder.name})", show_progress=True)
    csv_path, jsonl = write_triplets(triplets, out_file)
    out.print(f"{len(triplets)} rows → {csv_path} (+ {jsonl.name})")
    for what, count in sorted(counts.items()):
        out.print(f"  {what}: {count}")
