"""The vector store: a FAISS IndexFlatIP over L2-normalised embeddings, persisted without pickle.

A directory holds `index.faiss`, `docs.jsonl` (one Document per line, in vector order) and
`manifest.json` (embedder name + fingerprint, dimension, template, corpus fingerprint, count).
Loading with another embedder than the one that built it is an error: the vectors would not
be comparable. On disk the directory's name is a symlink to its current version (`.NAME.v<time>`),
switched atomically by `save`, so a crash never leaves half an index.

Documents are keyed by the hash of their text: a rebuild (the corpus changed, e.g. examples were
added) takes the vectors of unchanged documents from the previous index and embeds only the rest.

The FAISS index type follows the size (`index.kind: auto`): exact flat search up to FLAT_MAX_VECTORS,
an inverted-file index (IVF, 4·√n lists) above, for corpora in the millions; `hnsw` is the other
choice. benchmarks/bench_ann.py measures their recall against flat search at a million vectors.
A search restricted to one database stays exact: it scores that database's vectors directly.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from rag.masking import VocabularyCache, mask_all
from rag.settings import Settings

FORMAT_VERSION = 1
INDEX_FILE, DOCS_FILE, MANIFEST_FILE = "index.faiss", "docs.jsonl", "manifest.json"

INDEX_KINDS = ("auto", "flat", "ivf", "hnsw")
FLAT_MAX_VECTORS = 200_000  # one query over 200k × 384 floats takes about 12 ms on one core
IVF_NPROBE = 64  # lists searched per query: recall@10 0.966 against flat at 1M vectors (README "Scale")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128


def new_faiss_index(vectors: np.ndarray, kind: str = "auto") -> tuple[faiss.Index, dict[str, Any]]:
    """A FAISS inner-product index holding `vectors`, of `kind` (auto: flat up to FLAT_MAX_VECTORS, else
    IVF), and its search parameters for the manifest."""
    count, dimension = vectors.shape
    if kind not in INDEX_KINDS:
        raise IndexStoreError(f"unknown index kind '{kind}' (choose from {', '.join(INDEX_KINDS)})")
    if kind == "auto":
        kind = "flat" if count <= FLAT_MAX_VECTORS else "ivf"
    if kind == "flat":
        index: faiss.Index = faiss.IndexFlatIP(dimension)
        params: dict[str, Any] = {}
    elif kind == "ivf":
        lists = max(1, min(int(4 * count**0.5), count // 39))  # FAISS wants about 39 training points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(count, size=min(count, 64 * lists), replace=False)]
        index.train(np.ascontiguousarray(sample))
        params = {"lists": lists, "nprobe": min(IVF_NPROBE, lists)}
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        params = {"m": HNSW_M, "ef_search": HNSW_EF_SEARCH}
    index.add(vectors)
    _apply_search_params(index, params)
    return index, {"kind": kind, **params}


def _apply_search_params(index: faiss.Index, params: dict[str, Any]) -> None:
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if "ef_search" in params:
        index.hnsw.efSearch = int(params["ef_search"])


def question_words(text: str) -> tuple[str, ...]:
    """A question's words, lower-cased, punctuation aside: what "the same question" compares."""
    return tuple(re.findall(r"\w+", text.lower()))


def stored_vectors(index: faiss.Index, positions: np.ndarray | None = None) -> np.ndarray:
    """Vectors kept by `index` (all, or those at `positions`); IVF indexes get a direct map first."""
    if isinstance(index, faiss.IndexIVF) and index.direct_map.type == faiss.DirectMap.NoMap:
        index.make_direct_map()
    if positions is None:
        return index.reconstruct_n(0, index.ntotal)
    return index.reconstruct_batch(np.asarray(positions, dtype=np.int64))


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
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
            k = min(k, len(ids))
        k = min(k, self.index.ntotal)
        with _omp_threads(self.single_query_threads if len(queries) == 1 else None):
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
        """Write the three files into a new version directory beside `directory`, then point
        `directory` (a symlink) at it with one atomic rename, so a crash at any point leaves the old
        index or the new one. One save of an index at a time (a lock file); leftovers of crashed
        saves and versions older than the previous one are removed."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        with _save_lock(directory):
            _remove_stale(directory)
            version = directory.with_name(f".{directory.name}.v{time.time_ns()}")
            staging = version.with_name(version.name + ".tmp")
            staging.mkdir()
            _step("staging")
            faiss.write_index(self.index, str(staging / INDEX_FILE))
            with (staging / DOCS_FILE).open("w", encoding="utf-8") as handle:
                for doc in self.documents:
                    handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
            (staging / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n", encoding="utf-8")
            for name in (INDEX_FILE, DOCS_FILE, MANIFEST_FILE):
                _fsync(staging / name)
            _step("written")
            os.rename(staging, version)
            _fsync(directory.parent)
            _step("renamed")
            _point(directory, version)
            _step("switched")
            _remove_stale(directory)
        return directory

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
        _apply_search_params(index, manifest.get("faiss") or {})
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
            for number, line in enumerate(handle, 1):
                if line.strip():
                    documents.append(Document.from_dict(json.loads(line)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IndexStoreError(f"corrupt documents file {path}, line {number}: {str(exc)[:200]}", hint="rebuild it with `coderag index build`") from None
    return documents


# -- versions on disk: `<name>` is a symlink to `.<name>.v<time>`, switched atomically by a save --------

SAVE_HOOK: Callable[[str], None] | None = None  # called between the steps of a save (crash tests)
SAVE_LOCK_WAIT_S = 300.0


def _step(name: str) -> None:
    if SAVE_HOOK is not None:
        SAVE_HOOK(name)


def current_version(directory: Path) -> Path | None:
    """The directory holding the index's files now: `directory` itself (a real directory, or the
    symlink's target), or, when a crash left no `directory` while moving an old-style one aside,
    the newest complete version beside it. None when there is no index."""
    if directory.is_dir():
        return directory.resolve()
    versions = _versions(directory)
    return versions[-1] if versions else None


def _versions(directory: Path) -> list[Path]:
    """Complete versions of `directory`'s index, oldest first (a version is complete once renamed from staging)."""
    pattern = re.compile(rf"\.{re.escape(directory.name)}\.v\d+")
    if not directory.parent.is_dir():
        return []
    return sorted((p for p in directory.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir()), key=lambda p: int(p.name.rsplit(".v", 1)[1]))


def _point(directory: Path, version: Path) -> None:
    """Make `directory` a symlink to `version` with one rename (an old-style real directory is first moved aside as a version)."""
    link = directory.with_name(f".{directory.name}.link{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    if directory.is_dir() and not directory.is_symlink():
        os.rename(directory, directory.with_name(f".{directory.name}.v0"))
        _step("moved-aside")
    os.replace(link, directory)
    _fsync(directory.parent)


def _remove_stale(directory: Path) -> None:
    """Leftovers of crashed saves (staging directories, links, the old layout's .tmp/.old) and every
    version but the newest two and the current one (a reader may still be loading the previous one)."""
    leftover = re.compile(rf"\.{re.escape(directory.name)}\.(?:v\d+|v\d+\.tmp|link\d+|\w+\.(?:tmp|old))")
    keep = set(_versions(directory)[-2:]) | ({directory.resolve()} if directory.is_symlink() else set())
    for path in directory.parent.iterdir():
        if path in keep or not leftover.fullmatch(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def _save_lock(directory: Path) -> Iterator[None]:
    """One save per index at a time, across processes (flock on `.<name>.lock`); waiting past
    SAVE_LOCK_WAIT_S is a one-line IndexStoreError."""
    with directory.with_name(f".{directory.name}.lock").open("a") as handle:
        deadline = time.monotonic() + SAVE_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IndexStoreError(f"another process has been saving index {directory} for {SAVE_LOCK_WAIT_S:g} s; try again later") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def text_key(text: str) -> str:
    """A document's key for reusing its vector: the hash of the text the encoder saw."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


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
    index = VectorIndex.build(examples, encoder, MASKED_TEMPLATE, corpus=f"{corpus}-masked", show_progress=show_progress, previous=existing, **build_options(settings))
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
