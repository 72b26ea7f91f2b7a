"""The LLM triplet generator (after BGE-Coder's TripletGenerator), on any LangChain chat model.

For each (task, snippet) job it runs the task's one or two generation steps, arranges query and
positive by the task's layout, asks a quality-control judge for a verdict that must be exactly
0 (type mismatch), 1 (good) or 2 (bad), and optionally asks for hard negatives. Results are
cached per document (one JSON file named by the MD5 of task and input text, written atomically)
and reused on rerun; a corrupt cache file is regenerated. Jobs run on a thread pool with a
progress bar; a failing job is logged, counted and skipped.

`make_chat_model` builds the chat model from coderag settings: llama.cpp on a GGUF file (through
rag.generators, with a GBNF grammar that forces the judge to answer one digit) or an
OpenAI-compatible server (model name Qwen2.5-Coder-32B-Instruct by default, as the seeds used).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import random
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from tqdm.auto import tqdm

from rag.errors import ConfigError
from rag.io import write_json_atomic
from synth.prompts import (
    Language,
    clean_content,
    generation_prompt,
    hard_negative_prompt,
    judge_prompt,
    parse_verdict,
)
from synth.sources import Snippet
from synth.sql.dialects import DIALECTS, dialect_key
from synth.sql.syntax import parse_query, same_text
from synth.stats import SynthStats
from synth.task import Category, Layout, Target, Task
from synth.tasks import TASKS
from synth.triplets import Triplet

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen2.5-Coder-32B-Instruct"
JUDGE_GRAMMAR = "root ::= [012]"
CODE_TARGETS = ("Python", "JavaScript", "Java", "Go", "Rust", "C++", "TypeScript")
LANGUAGE_NAMES = {
    "python": "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "java": "Java",
    "go": "Go",
    "rust": "Rust",
    "c": "C",
    "cpp": "C++",
    "csharp": "C#",
    "ruby": "Ruby",
    "php": "PHP",
    "kotlin": "Kotlin",
    "swift": "Swift",
    "scala": "Scala",
    "lua": "Lua",
    "shell": "Shell",
    "r": "R",
    "julia": "Julia",
}
MAX_TEXT_CHARS = 4000


class OffFormat(Exception):
    """The model's answer is empty, garbage, or not the kind of output the step asks for."""


@dataclass
class Job:
    """One document for one task; `similar` is the second snippet modification/comparison tasks need."""

    task: Task
    snippet: Snippet
    similar: Snippet | None = None


@dataclass
class ChatBackend:
    """A chat model plus the per-call options its backend understands."""

    model: Any
    name: str
    judge_kwargs: dict[str, Any] = field(default_factory=dict)
    negative_kwargs: Callable[[int], dict[str, Any]] = lambda i: {}
    close: Callable[[], None] = lambda: None


def make_chat_model(
    kind: str, settings: Any, *, model_path: str | Path | None = None, base_url: str | None = None, model_name: str = DEFAULT_MODEL
) -> ChatBackend:
    """llama.cpp (`llm`) or an OpenAI-compatible server (`openai`), built by rag.generators."""
    from rag.generators import llama_cpp_generator, openai_generator

    if kind == "llm":
        from llama_cpp import LlamaGrammar

        # the text-to-SQL grammar (llm.grammar) would force every answer to be a SELECT
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"grammar": False})})
        generator = llama_cpp_generator(settings, model_path)
        seed = settings.llm.seed
        return ChatBackend(
            model=generator.chat_model,
            name=generator.name,
            judge_kwargs={"grammar": LlamaGrammar.from_string(JUDGE_GRAMMAR, verbose=False), "max_tokens": 2},
            negative_kwargs=lambda i: {"temperature": 0.8, "seed": seed + i + 1},
            close=generator.close,
        )
    if kind == "openai":
        settings = settings.model_copy(update={"openai": settings.openai.model_copy(update={"model": model_name})})
        generator = openai_generator(settings, base_url)
        seed = settings.llm.seed
        return ChatBackend(
            model=generator.chat_model,
            name=generator.name,
            judge_kwargs={"max_tokens": 4},
            negative_kwargs=lambda i: {"temperature": 0.8, "seed": seed + i + 1},
            close=generator.close,
        )
    raise ConfigError(f"unknown LLM backend '{kind}' (llm, openai)")


def cache_key(task: Task, text: str) -> str:
    """MD5 of the task name and the input text: one cache file per document and task."""
    return hashlib.md5(f"{task.name}\n{text}".encode()).hexdigest()


def language_of(job: Job, rng: random.Random) -> Language:
    """The prompt's language names; translation tasks draw a target dialect or language."""
    if job.snippet.language == "sql":
        target = DIALECTS[rng.choice(sorted(DIALECTS))] if job.task.target == Target.SQL_DIALECT else ""
        return Language("SQLite", target)
    name = LANGUAGE_NAMES.get(job.snippet.language, job.snippet.language.title())
    target = rng.choice([t for t in CODE_TARGETS if t != name]) if job.task.target == Target.CODE_LANGUAGE else ""
    return Language(name, target)


def answer_format(task: Task, input_language: str, language: Language) -> tuple[str, str | None]:
    """The language code answers must be in, and the SQL dialect they must parse in (None: any)."""
    if task.target == Target.SQL_DIALECT:
        return input_language, dialect_key(language.target)
    if task.target == Target.ANY_DIALECT:
        return input_language, None
    if task.target == Target.CODE_LANGUAGE:
        return language.target.lower(), "sqlite"
    return input_language, "sqlite"


class TripletGenerator:
    """Generates, judges and caches triplets with a chat model (see the module docstring)."""

    def __init__(
        self,
        backend: ChatBackend,
        *,
        cache_dir: str | Path | None = None,
        examples_pool: list[dict[str, Any]] | None = None,
        num_examples: int = 3,
        quality_control: bool = True,
        debug: bool = False,
        seed: int = 0,
    ) -> None:
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.examples_pool = examples_pool or []
        self.num_examples = num_examples
        self.quality_control = quality_control
        self.debug = debug
        self.seed = seed
        self.rejected: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # -- one model call ---------------------------------------------------------------------

    def chat(self, prompt: str, **kwargs: Any) -> str:
        from langchain_core.messages import HumanMessage

        message = self.backend.model.invoke([HumanMessage(content=prompt)], **kwargs)
        return str(getattr(message, "content", message))

    def _step(
        self,
        job: Job,
        step: int,
        text: str,
        language: Language,
        trace: list[dict[str, str]],
        *,
        text_b: str | None = None,
        examples: list[dict[str, Any]] | None = None,
        code: str | None = None,
        dialect: str | None = "sqlite",
    ) -> str:
        """One generation step; `code` names the language the answer must be in (None: prose)."""
        prompt = generation_prompt(job.task, step, text, language, text_b=text_b, examples=examples)
        response = self.chat(prompt)
        trace.append({"prompt": prompt, "response": response})
        return check_output(clean_content(response), code, dialect)

    # -- one job ----------------------------------------------------------------------------

    def generate(self, job: Job) -> dict[str, Any]:
        """Run the task's steps and the judge; a record with status `made` or `judged_out`.

        Raises OffFormat for unusable answers; the model's own errors propagate.
        """
        task, snippet = job.task, job.snippet
        rng = random.Random(f"{self.seed}:{task.name}:{snippet.origin}")
        language = language_of(job, rng)
        examples = self._examples(task, rng)
        trace: list[dict[str, str]] = []
        text, negatives = snippet.text, []
        code, dialect = answer_format(task, snippet.language, language)
        if task.layout == Layout.GENERATED_QUERY:
            query, pos = self._step(job, 0, text, language, trace, examples=examples), text
        elif task.layout == Layout.GENERATED_POSITIVE:
            answer = code if task.category == Category.CODE2CODE else None
            query, pos = text, self._step(job, 0, text, language, trace, examples=examples, code=answer, dialect=dialect)
        elif task.layout == Layout.BUG_DESCRIPTION:
            buggy = self._step(job, 0, text, language, trace, code=code)
            if same_text(buggy, text):
                raise OffFormat("the 'buggy' version is the input unchanged")
            query, pos, negatives = self._step(job, 1, buggy, language, trace, examples=examples), text, [buggy]
        elif task.layout == Layout.BUG_FIX:
            query, pos = self._step(job, 0, text, language, trace, examples=examples), text
        elif task.layout == Layout.INSTRUCT_THEN_CODE:
            query = f"{self._step(job, 0, text, language, trace)}\n{text}"
            pos = self._step(job, 1, query, language, trace, examples=examples, code=code, dialect=dialect)
        elif task.layout in (Layout.MODIFICATION, Layout.COMPARISON):
            if job.similar is None:
                raise OffFormat("no similar snippet to compare with")
            other = job.similar.text
            first = self._step(job, 0, text, language, trace, text_b=other)
            if task.layout == Layout.MODIFICATION:
                query, pos = f"{self._step(job, 1, first, language, trace, examples=examples)}\n{text}", other
            else:
                query = f"{first}\nCode 1:\n{text}\nCode 2:\n{other}"
                pos = self._step(job, 1, query, language, trace, examples=examples)
        else:
            raise OffFormat(f"task {task.name} has no LLM steps")
        if same_text(query, pos):
            raise OffFormat("query and positive are the same text")
        record: dict[str, Any] = {
            "task": task.name,
            "model": self.backend.name,
            "status": "made",
            "query": query.strip(),
            "pos": pos.strip(),
            "negatives": negatives,
            "neg_origin": "llm" if negatives else None,
            "verdict": None,
            "meta": {"language": snippet.language, "target": language.target or None},
        }
        if self.quality_control and task.judge is not None:
            prompt = judge_prompt(task, record["query"], record["pos"], language)
            response = self.chat(prompt, **self.backend.judge_kwargs)
            trace.append({"prompt": prompt, "response": response})
            verdict = parse_verdict(response)
            if verdict is None:
                raise OffFormat(f"judge answer is not exactly 0, 1 or 2: {response.strip()[:40]!r}")
            record["verdict"] = verdict
            if verdict != 1:
                record["status"] = "judged_out"
        if self.debug:
            record["debug"] = trace
        return record

    def _examples(self, task: Task, rng: random.Random) -> list[dict[str, Any]]:
        pool = [e for e in self.examples_pool if e.get("task") == task.name]
        return rng.sample(pool, min(self.num_examples, len(pool))) if pool and self.num_examples > 0 else []

    def hard_negatives(self, task: Task, query: str, pos: str, language: Language, n: int) -> list[str]:
        """Up to `n` distinct generated hard negatives (different from the query and the positive)."""
        prompt = hard_negative_prompt(task, query, pos, language)
        found: list[str] = []
        for i in range(n):
            negative = clean_content(self.chat(prompt, **self.backend.negative_kwargs(i)))
            if negative and not any(same_text(negative, x) for x in [query, pos, *found]):
                found.append(negative)
        return found

    # -- cache --------------------------------------------------------------------------------

    def _cache_path(self, job: Job) -> Path | None:
        return self.cache_dir / f"{cache_key(job.task, job.snippet.text)}.json" if self.cache_dir else None

    def _load(self, path: Path | None, stats: SynthStats) -> dict[str, Any] | None:
        if path is None or not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if (
                not isinstance(record, dict)
                or record.get("status") not in ("made", "judged_out")
                or not all(isinstance(record.get(k), str) for k in ("query", "pos"))
            ):
                raise ValueError("not a cache record")
        except (ValueError, UnicodeDecodeError, OSError):
            stats.note("cache: corrupt file regenerated")
            return None
        stats.note("cache: hit")
        return record

    # -- running many jobs --------------------------------------------------------------------

    def run_one(self, job: Job, stats: SynthStats, num_negatives: int = 0) -> Triplet | None:
        """One job end to end; never raises (failures are counted in `stats` and logged)."""
        category = job.task.category.value
        path = self._cache_path(job)
        record = self._load(path, stats)
        fresh = record is None
        try:
            if record is None:
                record = self.generate(job)
            if record["status"] == "made" and num_negatives > 0 and not record.get("negatives"):
                language = language_of(job, random.Random(f"{self.seed}:{job.task.name}:{job.snippet.origin}"))
                record["negatives"] = self.hard_negatives(job.task, record["query"], record["pos"], language, num_negatives)
                record["neg_origin"] = "llm" if record["negatives"] else None
                fresh = True
        except OffFormat as exc:
            self._failed(job, stats, f"off-format LLM output ({exc})")
            return None
        except Exception as exc:  # backends raise many types (HTTP, llama.cpp): count and go on
            self._failed(job, stats, f"LLM error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return None
        if fresh and path is not None:
            write_json_atomic(path, record)
        if record["status"] == "judged_out":
            stats.count("judged_out", category)
            if self.debug:
                with self._lock:
                    self.rejected.append({"source": job.snippet.origin, **record})
            return None
        stats.count("made", category)
        return self._triplet(job, record)

    def _failed(self, job: Job, stats: SynthStats, reason: str) -> None:
        log.warning("LLM synthesis of %s for %s failed: %s", job.task.name, job.snippet.origin, reason)
        stats.count("failures", job.task.category.value)
        stats.note(f"failure: {reason.split(' (')[0].split(':')[0]}")
        return None

    def _triplet(self, job: Job, record: dict[str, Any]) -> Triplet:
        meta = {"generator": "llm", "model": record.get("model"), "verdict": record.get("verdict"), **record.get("meta", {})}
        if self.debug and "debug" in record:
            meta["debug"] = record["debug"]
        sqlite = record["pos"] if job.snippet.language == "sql" and parse_query(record["pos"]) is not None else None
        triplet = Triplet(
            query=record["query"],
            pos=record["pos"],
            category=job.task.category.value,
            task_type=job.task.name,
            source=job.snippet.origin,
            meta={k: v for k, v in meta.items() if v is not None},
            work={"sqlite": sqlite, "context": job.snippet.context, "db_path": job.snippet.db_path},
        )
        triplet.set_negatives(list(record.get("negatives") or []), record.get("neg_origin") or "llm")
        return triplet

    def run(
        self, jobs: list[Job], stats: SynthStats, *, num_negatives: int = 0, threads: int = 1, show_progress: bool = True
    ) -> list[Triplet]:
        """Every job on a thread pool (progress bar); triplets in job order."""
        results: list[Triplet | None] = [None] * len(jobs)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            futures = {pool.submit(self.run_one, job, stats, num_negatives): i for i, job in enumerate(jobs)}
            for future in tqdm(as_completed(futures), total=len(futures), desc="LLM synthesis", unit="doc", disable=not show_progress):
                results[futures[future]] = future.result()
        return [t for t in results if t is not None]


def check_output(text: str, code: str | None, dialect: str | None = "sqlite") -> str:
    """Reject empty, oversized or word-free answers, and code that does not parse: SQL in
    `dialect` (None: any dialect), Python with `ast`; other languages are not parsed."""
    if not text or not text.strip():
        raise OffFormat("empty answer")
    if len(text) > MAX_TEXT_CHARS:
        raise OffFormat(f"answer longer than {MAX_TEXT_CHARS} characters")
    if len(re.findall(r"[A-Za-z]", text)) < 3:
        raise OffFormat("answer has no words")
    if code == "sql" and not _parses_as_sql(text, dialect):
        raise OffFormat("SQL that does not parse")
    if code == "python":
        try:
            ast.parse(text)
        except (SyntaxError, ValueError):
            raise OffFormat("Python that does not parse") from None
    return text


def _parses_as_sql(text: str, dialect: str | None) -> bool:
    if dialect == "sqlite":
        return parse_query(text) is not None
    try:
        statements = sqlglot.parse(text, read=dialect)
    except (sqlglot.errors.SqlglotError, ValueError):
        return False
    return bool(statements) and all(s is not None for s in statements)


def examples_from_triplets(triplets: list[Triplet]) -> list[dict[str, Any]]:
    """A few-shot pool from rule triplets: the input side and the side the LLM would generate."""
    pool = []
    for t in triplets:
        task = TASKS.get(t.task_type)
        if task is None or t.meta.get("check") not in ("gold", "executed"):
            continue
        if task.layout == Layout.GENERATED_QUERY:
            pool.append({"task": task.name, "input": t.pos, "output": t.query})
        elif task.layout == Layout.GENERATED_POSITIVE:
            pool.append({"task": task.name, "input": t.query, "output": t.pos})
    return pool


def similar_snippets(snippets: list[Snippet], max_df: float = 0.2) -> dict[int, int]:
    """For each snippet (by index), the most similar other snippet of the same language by
    identifier-set Jaccard, through an inverted index of rarer tokens (no embedder needed)."""
    tokens = [frozenset(re.findall(r"[A-Za-z_]\w+", s.text.lower())) for s in snippets]
    postings: dict[tuple[str, str], list[int]] = {}
    for i, (snippet, toks) in enumerate(zip(snippets, tokens)):
        for tok in toks:
            postings.setdefault((snippet.language, tok), []).append(i)
    limit = max(2, int(max_df * len(snippets)))
    best: dict[int, int] = {}
    for i, (snippet, toks) in enumerate(zip(snippets, tokens)):
        candidates = {
            j for tok in toks for j in postings[(snippet.language, tok)][: limit + 1] if len(postings[(snippet.language, tok)]) <= limit
        }
        candidates.discard(i)
        scored = [(len(toks & tokens[j]) / len(toks | tokens[j]), -j) for j in candidates if snippets[j].text != snippet.text]
        if scored:
            best[i] = -max(scored)[1]
    return best
