"""Train a WordPiece tokenizer on raw code and text for the from-scratch encoder.

    coderag embedder tokenizer --input my_code/ --input pairs.jsonl --vocab-size 32000 --out code-tokenizer

Case is kept (code is case-sensitive) and text is split on whitespace and punctuation before
WordPiece, BERT-style. The result is a transformers tokenizer directory (tokenizer.json +
tokenizer_config.json), so `AutoTokenizer` and sentence-transformers load it like any other.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.errors import ConfigError, DataError
from rag.publish import publish_directory

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TEXT_FIELDS = ("anchor", "positive", "negative", "query", "pos", "neg", "question", "sql", "code", "text", "docstring")
TEXT_SUFFIXES = {".py", ".sql", ".txt", ".md", ".js", ".ts", ".java", ".go", ".rs", ".c", ".h", ".cpp", ".rb", ".sh"}


def iter_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Texts from files or directories: text fields of JSONL/CSV rows, whole source and text files."""
    for path in paths:
        if path.is_dir():
            yield from iter_texts(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES | {".jsonl", ".csv"})
            )
        elif not path.is_file():
            raise DataError(f"tokenizer input not found: {path}")
        elif path.suffix.lower() == ".jsonl":
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError:
                            raise DataError(f"{path}: invalid JSON line") from None
                        yield from _row_texts(row)
        elif path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                for row in csv.DictReader(handle):
                    yield from _row_texts(row)
        else:
            yield path.read_text(encoding="utf-8", errors="replace")


def _row_texts(row: object) -> Iterator[str]:
    if isinstance(row, dict):
        for key in TEXT_FIELDS:
            value = row.get(key)
            if isinstance(value, str) and value.strip():
                yield value


def bundled_texts() -> Iterator[str]:
    """Questions, SQL and schemas of the bundled corpus: a small offline default."""
    from rag.corpus import load_bundled

    for ex in load_bundled(None):
        yield ex.question
        yield ex.sql
        yield ex.context


def train_tokenizer(
    texts: Iterable[str], out: Path, *, vocab_size: int = 32000, min_frequency: int = 2, max_length: int = 256, overwrite: bool = False
) -> Path:
    """Train WordPiece on `texts` and save a transformers tokenizer directory at `out` (atomically)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists", hint="pass --overwrite to replace it")
    if vocab_size < len(SPECIAL_TOKENS) + 100:
        raise ConfigError(f"--vocab-size {vocab_size} is too small (at least {len(SPECIAL_TOKENS) + 100})")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    counted = _Counted(texts)
    tokenizer.train_from_iterator(counted, trainer=trainer)
    if counted.count == 0:
        raise DataError("no text to train the tokenizer on (inputs were empty)")
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        fast.save_pretrained(str(staging))
        return publish_directory(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Counted:
    """An iterable of texts that counts what it yields (the trainer gives no such feedback)."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = texts
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.count += 1
            yield text
