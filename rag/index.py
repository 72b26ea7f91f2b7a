"""The vector store: a FAISS IndexFlatIP over L2-normalised embeddings, persisted without pickle.

A directory holds `index.faiss`, `docs.jsonl` (one Document per line, in vector order) and
`manifest.json` (embedder name + fingerprint, dimension, template, corpus fingerprint, count).
Loading with another embedder than the one that built it is an error: the vectors would not
be comparable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm.auto import tqdm

from rag.corpus import Example, fingerprint, load_corpus
from rag.documents import Document
from rag.encoders import Encoder
from rag.errors import IndexStoreError
from rag.settings import Settings

FORMAT_VERSION = 1
INDEX_FILE, DOCS_FILE, MANIFEST_FILE = "index.faiss", "docs.jsonl", "manifest.json"


@dataclass
class Hit:
    document: Document
    score: float
    rank: int


@dataclass
class VectorIndex:
    """Documents and their vectors; `search` returns the top-k by inner product (cosine)."""

    index: faiss.Index
    documents: list[Document]
    manifest: dict[str, Any]
    single_query_threads: int = 1
    _by_db: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._reindex_dbs()

    def _reindex_dbs(self) -> None:
        groups: dict[str, list[int]] = {}
        for position, doc in enumerate(self.documents):
            groups.setdefault(doc.db, []).append(position)
        self._by_db = {db: np.asarray(ids, dtype=np.int64) for db, ids in groups.items()}

    # -- building -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        examples: list[Example],
        encoder: Encoder,
        template: str,
        *,
        corpus: str = "",
        batch_size: int = 64,
        show_progress: bool = True,
    ) -> VectorIndex:
        if not examples:
            raise IndexStoreError("cannot build an index from an empty corpus")
        documents = [Document.from_example(ex, template) for ex in examples]
        started = time.perf_counter()
        vectors = _encode_in_chunks(encoder, [d.text for d in documents], batch_size, show_progress)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": encoder.name,
            "embedder_fingerprint": encoder.fingerprint,
            "dimension": int(vectors.shape[1]),
            "template": template,
            "corpus": corpus,
            "corpus_fingerprint": fingerprint(examples),
            "count": len(documents),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        return cls(index=index, documents=documents, manifest=manifest)

    def add(self, examples: list[Example], encoder: Encoder) -> list[Document]:
        """Append examples without a rebuild (e.g. a question → SQL a user confirmed)."""
        self._check_encoder(encoder)
        documents = [Document.from_example(ex, self.manifest["template"]) for ex in examples]
        self.index.add(encoder.encode([d.text for d in documents]))
        self.documents.extend(documents)
        self.manifest["count"] = len(self.documents)
        self.manifest["corpus_fingerprint"] = f"{self.manifest['corpus_fingerprint']}+{len(documents)}"
        self._reindex_dbs()
        return documents

    # -- searching ------------------------------------------------------------------------

    @property
    def dbs(self) -> set[str]:
        return set(self._by_db)

    def search(self, query_vectors: np.ndarray, k: int, db: str | None = None) -> list[list[Hit]]:
        """Top-k hits per query row; `db` restricts the search to that database's documents."""
        if k <= 0:
            return [[] for _ in range(len(query_vectors))]
        params = None
        if db is not None:
            ids = self._by_db.get(db)
            if ids is None:
                return [[] for _ in range(len(query_vectors))]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
            k = min(k, len(ids))
        k = min(k, self.index.ntotal)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        with _omp_threads(self.single_query_threads if len(queries) == 1 else None):
            scores, positions = self.index.search(queries, k, params=params)
        return [
            [Hit(self.documents[p], float(s), rank) for rank, (s, p) in enumerate(zip(row_s, row_p)) if p >= 0]
            for row_s, row_p in zip(scores, positions)
        ]

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write the three files into a fresh sibling directory, then swap it in with renames,
        so a crash leaves either the old index or the new one, never a mix."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
        try:
            faiss.write_index(self.index, str(staging / INDEX_FILE))
            with (staging / DOCS_FILE).open("w", encoding="utf-8") as handle:
                for doc in self.documents:
                    handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
            (staging / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
            retired = None
            if directory.exists():
                retired = directory.with_name(f".{directory.name}.{os.getpid()}.old")
                os.replace(directory, retired)
            os.replace(staging, directory)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: Path, encoder: Encoder | None = None) -> VectorIndex:
        """Load and check an index directory; with `encoder`, refuse an index built by another one."""
        manifest_path, index_path, docs_path = (directory / n for n in (MANIFEST_FILE, INDEX_FILE, DOCS_FILE))
        for path in (manifest_path, index_path, docs_path):
            if not path.is_file():
                raise IndexStoreError(f"index is incomplete: {path} is missing", hint="rebuild it with `coderag index build`")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or "embedder_fingerprint" not in manifest:
                raise ValueError("not a coderag manifest")
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexStoreError(f"corrupt index manifest {manifest_path}: {exc}") from None
        if encoder is not None:
            _check_manifest_encoder(manifest, encoder, directory)
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError:
            raise IndexStoreError(f"corrupt FAISS index file {index_path}", hint="rebuild it with `coderag index build`") from None
        try:
            with docs_path.open(encoding="utf-8") as handle:
                documents = [Document.from_dict(json.loads(line)) for line in handle if line.strip()]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise IndexStoreError(f"corrupt documents file {docs_path}", hint="rebuild it with `coderag index build`") from None
        if index.ntotal != len(documents) or index.ntotal != manifest.get("count"):
            raise IndexStoreError(
                f"index {directory} is inconsistent: {index.ntotal} vectors, {len(documents)} documents, "
                f"manifest says {manifest.get('count')}",
                hint="rebuild it with `coderag index build`",
            )
        if index.d != manifest.get("dimension"):
            raise IndexStoreError(f"index {directory} has dimension {index.d}, manifest says {manifest.get('dimension')}")
        return cls(index=index, documents=documents, manifest=manifest)

    def _check_encoder(self, encoder: Encoder) -> None:
        _check_manifest_encoder(self.manifest, encoder, None)


def _check_manifest_encoder(manifest: dict[str, Any], encoder: Encoder, directory: Path | None) -> None:
    if manifest.get("embedder_fingerprint") != encoder.fingerprint or manifest.get("dimension") != encoder.dimension:
        where = f" {directory}" if directory else ""
        raise IndexStoreError(
            f"index{where} was built with embedder '{manifest.get('embedder')}' "
            f"({manifest.get('embedder_fingerprint')}), not '{encoder.name}' ({encoder.fingerprint})",
            hint="rebuild it with `coderag index build --embedder ...`",
        )


def _encode_in_chunks(encoder: Encoder, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
    chunk = max(batch_size * 8, 256)
    parts = []
    with tqdm(total=len(texts), desc="embedding documents", unit="doc", disable=not show_progress) as bar:
        for start in range(0, len(texts), chunk):
            parts.append(encoder.encode(texts[start : start + chunk], batch_size=batch_size))
            bar.update(len(texts[start : start + chunk]))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


@contextmanager
def _omp_threads(count: int | None) -> Iterator[None]:
    """FAISS flat search of one query is faster single-threaded (faiss issue 2953)."""
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def index_dir_name(corpus: str, template: str, embedder_fingerprint: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus).strip("_")[:60] or "corpus"
    return f"{slug}--{template}--{embedder_fingerprint[:10]}"


def index_path(settings: Settings, corpus: str, encoder: Encoder, template: str | None = None) -> Path:
    return settings.index_dir / index_dir_name(corpus, template or settings.index.template, encoder.fingerprint)


def get_index(
    settings: Settings,
    encoder: Encoder,
    corpus: str = "default",
    *,
    template: str | None = None,
    split: str | None = "train",
    rebuild: bool = False,
    show_progress: bool = True,
) -> VectorIndex:
    """Load the index for (corpus, template, embedder), building and saving it on first use, and
    again whenever the corpus changed since (e.g. a database's example store grew)."""
    template = template or settings.index.template
    directory = index_path(settings, corpus, encoder, template)
    examples = load_corpus(corpus, split, home=settings.home)
    index = VectorIndex.load(directory, encoder) if directory.exists() and not rebuild else None
    if index is None or index.manifest.get("corpus_fingerprint") != fingerprint(examples):
        index = VectorIndex.build(
            examples, encoder, template, corpus=corpus, batch_size=settings.embedder.batch_size, show_progress=show_progress
        )
        index.save(directory)
    index.single_query_threads = settings.index.omp_threads_single_query
    return index
