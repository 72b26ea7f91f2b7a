"""The vector store: a FAISS IndexFlatIP over L2-normalised embeddings, persisted without pickle.

A directory holds `index.faiss`, `docs.jsonl` (one Document per line, in vector order) and
`manifest.json` (embedder name + fingerprint, dimension, template, corpus fingerprint, count).
Loading with another embedder than the one that built it is an error: the vectors would not
be comparable. On disk the directory's name is a symlink to its current version (`.NAME.v<time>`),
switched atomically by `save` (rag.publish), so a crash never leaves half an index.

Documents are keyed by the hash of their text: a rebuild (the corpus changed, e.g. examples were
added) takes the vectors of unchanged documents from the previous index and embeds only the rest.

The FAISS index type follows the size (`index.kind: auto`, rag.faisskinds). A search restricted
to one database stays exact: it scores that database's vectors directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.corpus import Example, fingerprint, load_corpus
from rag.documents import MASKED_TEMPLATE, Document
from rag.encoders import Encoder, encode_many
from rag.errors import IndexStoreError
from rag.execution import DatabaseSource
from rag.faissfile import check_index_file
from rag.faisskinds import (
    apply_search_params,
    new_faiss_index,
    omp_threads,
    stored_vectors,
)
from rag.masking import VocabularyCache, mask_all
from rag.publish import current_version, publish_version
from rag.settings import Settings

FORMAT_VERSION = 1
INDEX_FILE, DOCS_FILE, MANIFEST_FILE = "index.faiss", "docs.jsonl", "manifest.json"


def question_words(text: str) -> tuple[str, ...]:
    """A question's words, lower-cased, punctuation aside: what "the same question" compares."""
    return tuple(re.findall(r"\w+", text.lower()))


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
    _by_question: dict[tuple[str, tuple[str, ...]], list[int]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._reindex_dbs()

    def _reindex_dbs(self) -> None:
        groups: dict[str, list[int]] = {}
        for position, doc in enumerate(self.documents):
            groups.setdefault(doc.db, []).append(position)
        self._by_db = {db: np.asarray(ids, dtype=np.int64) for db, ids in groups.items()}
        self._by_question = None

    def same_question(self, query_vector: np.ndarray, question: str, db: str | None) -> list[Hit]:
        """Stored examples (of `db`, or any) whose question is word for word `question` (case and
        punctuation aside), scored against `query_vector`: a question asked before is answered
        by its own example, however its SQL shifts the document's embedding."""
        if self._by_question is None:
            table: dict[tuple[str, tuple[str, ...]], list[int]] = {}
            for position, doc in enumerate(self.documents):
                table.setdefault((doc.db, question_words(doc.question)), []).append(position)
            self._by_question = table
        words = question_words(question)
        dbs = [db] if db is not None else list(self._by_db)
        positions = [p for name in dbs for p in self._by_question.get((name, words), [])]
        if not positions:
            return []
        scores = stored_vectors(self.index, np.asarray(positions, dtype=np.int64)) @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
        ranked = sorted(zip(scores.tolist(), positions), key=lambda pair: -pair[0])
        return [Hit(self.documents[p], float(score), rank) for rank, (score, p) in enumerate(ranked)]

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
        workers: int = 1,
        kind: str = "auto",
        show_progress: bool = True,
        previous: VectorIndex | None = None,
    ) -> VectorIndex:
        """Embed `examples` rendered with `template` (in `workers` processes for large corpora) into a
        FAISS index of `kind`; the vectors of documents whose text is already in `previous` (built by
        the same encoder) are reused."""
        if not examples:
            raise IndexStoreError("cannot build an index from an empty corpus")
        documents = [Document.from_example(ex, template) for ex in with_masked_questions(examples, template)]
        started = time.perf_counter()
        vectors = np.empty((len(documents), encoder.dimension), dtype=np.float32)
        known = previous.vectors_by_text(encoder) if previous is not None else {}
        keys = [text_key(doc.text) for doc in documents]
        missing = [i for i, key in enumerate(keys) if key not in known]
        for i, key in enumerate(keys):
            if key in known:
                vectors[i] = known[key]
        if missing:
            texts = [documents[i].text for i in missing]
            vectors[missing] = encode_many(encoder, texts, batch_size=batch_size, workers=workers, show_progress=show_progress)
        index, faiss_params = new_faiss_index(vectors, kind)
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": encoder.name,
            "embedder_fingerprint": encoder.fingerprint,
            "dimension": int(vectors.shape[1]),
            "template": template,
            "corpus": corpus,
            "corpus_fingerprint": fingerprint(examples),
            "count": len(documents),
            "embedded": len(missing),
            "faiss": faiss_params,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        return cls(index=index, documents=documents, manifest=manifest)

    def vectors_by_text(self, encoder: Encoder) -> dict[str, np.ndarray]:
        """This index's vectors keyed by their document's text hash; empty if another encoder built it."""
        if self.manifest.get("embedder_fingerprint") != encoder.fingerprint or self.index.ntotal == 0:
            return {}
        stored = stored_vectors(self.index)
        return {text_key(doc.text): stored[i] for i, doc in enumerate(self.documents)}

    def add(self, examples: list[Example], encoder: Encoder) -> list[Document]:
        """Append examples without a rebuild (e.g. a question → SQL a user confirmed)."""
        self._check_encoder(encoder)
        template = self.manifest["template"]
        documents = [Document.from_example(ex, template) for ex in with_masked_questions(examples, template)]
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
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if db is not None:
            ids = self._by_db.get(db)
            if ids is None:
                return [[] for _ in range(len(query_vectors))]
            if not isinstance(self.index, faiss.IndexFlat):
                return self._search_subset(queries, k, ids)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))  # type: ignore[call-arg]  # faiss's stub omits the keyword arguments its wrapper accepts
            k = min(k, len(ids))
        k = min(k, self.index.ntotal)
        with omp_threads(self.single_query_threads if len(queries) == 1 else None):
            scores, positions = self.index.search(queries, k, params=params)
        return [
            [Hit(self.documents[p], float(s), rank) for rank, (s, p) in enumerate(zip(row_s, row_p)) if p >= 0]
            for row_s, row_p in zip(scores, positions)
        ]

    def _search_subset(self, queries: np.ndarray, k: int, positions: np.ndarray) -> list[list[Hit]]:
        """Exact top-k among `positions` (one database's documents): an approximate index probes
        only a few lists or graph neighbours and would miss most of a small database's examples."""
        scores = queries @ stored_vectors(self.index, positions).T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [
            [Hit(self.documents[positions[j]], float(row_scores[j]), rank) for rank, j in enumerate(row)]
            for row, row_scores in zip(top, scores)
        ]

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write the three files into a new version of `directory` and switch to it atomically
        (rag.publish), so a crash at any point leaves the old index or the new one."""
        return publish_version(Path(directory), self._write, what="index", error=IndexStoreError)

    def _write(self, staging: Path) -> None:
        faiss.write_index(self.index, str(staging / INDEX_FILE))
        with (staging / DOCS_FILE).open("w", encoding="utf-8") as handle:
            for doc in self.documents:
                handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
        (staging / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, encoder: Encoder | None = None) -> VectorIndex:
        """Load and check an index directory; with `encoder`, refuse an index built by another one.

        The directory is resolved once (a save switching versions meanwhile does not mix two), every
        size the FAISS file declares is checked against its length before FAISS reads it, and each
        document's fields against their types."""
        directory = current_version(Path(directory)) or Path(directory)
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
        shape = check_index_file(index_path)
        if shape.dimension != manifest.get("dimension") or shape.count != manifest.get("count"):
            raise IndexStoreError(
                f"index {directory} is inconsistent: its FAISS file holds {shape.count} vectors of {shape.dimension} dimensions, "
                f"its manifest says {manifest.get('count')} of {manifest.get('dimension')}",
                hint="rebuild it with `coderag index build`",
            )
        try:
            index = faiss.read_index(str(index_path))
        except (RuntimeError, MemoryError):
            raise IndexStoreError(f"corrupt FAISS index file {index_path}", hint="rebuild it with `coderag index build`") from None
        documents = _read_documents(docs_path)
        if index.ntotal != len(documents) or index.ntotal != manifest.get("count"):
            raise IndexStoreError(
                f"index {directory} is inconsistent: {index.ntotal} vectors, {len(documents)} documents, "
                f"manifest says {manifest.get('count')}",
                hint="rebuild it with `coderag index build`",
            )
        if index.d != manifest.get("dimension"):
            raise IndexStoreError(f"index {directory} has dimension {index.d}, manifest says {manifest.get('dimension')}")
        apply_search_params(index, manifest.get("faiss") or {})
        return cls(index=index, documents=documents, manifest=manifest)

    def _check_encoder(self, encoder: Encoder) -> None:
        _check_manifest_encoder(self.manifest, encoder, None)


def _check_manifest_encoder(manifest: dict[str, Any], encoder: Encoder, directory: Path | None) -> None:
    where = f" {directory}" if directory else ""
    if manifest.get("embedder_fingerprint") != encoder.fingerprint:
        raise IndexStoreError(
            f"index{where} was built with embedder '{manifest.get('embedder')}' "
            f"({manifest.get('embedder_fingerprint')}), not '{encoder.name}' ({encoder.fingerprint})",
            hint="rebuild it with `coderag index build --embedder ...`",
        )
    if manifest.get("dimension") != encoder.dimension:
        raise IndexStoreError(
            f"index{where} holds {manifest.get('dimension')}-d vectors, but embedder '{encoder.name}' makes {encoder.dimension}-d ones",
            hint="rebuild it with `coderag index build`",
        )


def check_request(index: VectorIndex, directory: Path, corpus: str, template: str) -> None:
    """An index found where (corpus, template) should be must have been built for them."""
    built = (index.manifest.get("corpus"), index.manifest.get("template"))
    if built != (corpus, template):
        raise IndexStoreError(
            f"index {directory} was built for corpus '{built[0]}' with template '{built[1]}', not corpus '{corpus}' with template '{template}'",
            hint=f"rebuild it: coderag index build --corpus {corpus} --template {template}",
        )


def _read_documents(path: Path) -> list[Document]:
    documents, number = [], 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):  # noqa: B007 — the line number names a broken line below
                if line.strip():
                    documents.append(Document.from_dict(json.loads(line)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IndexStoreError(
            f"corrupt documents file {path}, line {number}: {str(exc)[:200]}", hint="rebuild it with `coderag index build`"
        ) from None
    return documents


def text_key(text: str) -> str:
    """A document's key for reusing its vector: the hash of the text the encoder saw."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def with_masked_questions(examples: list[Example], template: str, cache: VocabularyCache | None = None) -> list[Example]:
    """For the `masked_question` template: each example with its question masked by its own
    database's vocabulary (`meta["masked_question"]`, read once per database); others unchanged."""
    if template != MASKED_TEMPLATE:
        return examples
    todo = [i for i, ex in enumerate(examples) if "masked_question" not in ex.meta]
    if not todo:
        return examples
    masked = mask_all([examples[i].question for i in todo], [DatabaseSource.for_example(examples[i]) for i in todo], cache)
    out = list(examples)
    for i, text in zip(todo, masked):
        out[i] = dataclasses.replace(examples[i], meta={**examples[i].meta, "masked_question": text})
    return out


def masked_companion(settings: Settings, encoder: Encoder, plain: VectorIndex, *, show_progress: bool = False) -> VectorIndex:
    """The documents of `plain`, embedded by their masked questions (template `masked_question`):
    what a question about a database without examples of its own is compared with (README
    "Retrieval across databases"). Saved under the index directory, keyed by the plain index's
    corpus and contents, and built on first use (only documents whose masked text is new are embedded)."""
    corpus = str(plain.manifest.get("corpus") or "corpus")
    source = f"{corpus}:{plain.manifest.get('corpus_fingerprint')}:{len(plain.documents)}"
    directory = index_path(settings, f"{corpus}-masked", encoder, MASKED_TEMPLATE)
    existing = None
    if current_version(directory):
        try:
            existing = VectorIndex.load(directory, encoder)
        except IndexStoreError:
            existing = None  # stale or another embedder's: rebuilt below
    if existing is not None and existing.manifest.get("source") == source:
        existing.single_query_threads = settings.index.omp_threads_single_query
        return existing
    # documents already in the companion keep their masked question (no database is read again for them)
    masked = {(d.id, d.question): d.text for d in existing.documents} if existing is not None else {}
    examples = [doc.to_example() for doc in plain.documents]
    examples = [
        dataclasses.replace(ex, meta={**ex.meta, "masked_question": masked[(ex.id, ex.question)]}) if (ex.id, ex.question) in masked else ex
        for ex in examples
    ]
    index = VectorIndex.build(
        examples,
        encoder,
        MASKED_TEMPLATE,
        corpus=f"{corpus}-masked",
        show_progress=show_progress,
        previous=existing,
        **build_options(settings),
    )
    index.manifest["source"] = source
    index.save(directory)
    index.single_query_threads = settings.index.omp_threads_single_query
    return index


def index_dir_name(corpus: str, template: str, embedder_fingerprint: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus).strip("_")[:60] or "corpus"
    return f"{slug}--{template}--{embedder_fingerprint[:10]}"


def index_path(settings: Settings, corpus: str, encoder: Encoder, template: str | None = None) -> Path:
    return settings.index_dir / index_dir_name(corpus, template or settings.index.template, encoder.fingerprint)


def build_options(settings: Settings) -> dict[str, Any]:
    """`VectorIndex.build`'s configured options: batch size, embedding processes, FAISS index kind."""
    return {"batch_size": settings.embedder.batch_size, "workers": settings.embedder.workers, "kind": settings.index.kind}


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
    index = VectorIndex.load(directory, encoder) if current_version(directory) and not rebuild else None
    if index is not None:
        check_request(index, directory, corpus, template)
    if index is None or index.manifest.get("corpus_fingerprint") != fingerprint(examples):
        index = VectorIndex.build(
            examples,
            encoder,
            template,
            corpus=corpus,
            show_progress=show_progress,
            previous=index,
            **build_options(settings),
        )
        index.save(directory)
    index.single_query_threads = settings.index.omp_threads_single_query
    return index
