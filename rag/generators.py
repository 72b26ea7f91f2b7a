"""SQL generators behind one small interface: llama.cpp on a GGUF file, an OpenAI-compatible
server, or `knn` (no LLM: the SQL of the closest stored example).

Each generator owns its native resources: call `close()` or use it as a context manager.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rag.errors import CodeRagError, ConfigError, ModelError, SQLError
from rag.grammar import SQLITE_GRAMMAR
from rag.index import Hit
from rag.settings import Settings

if TYPE_CHECKING:  # langchain_core costs about a second to import; knn never needs it
    from langchain_core.prompt_values import PromptValue

GRAMMAR_PATH = SQLITE_GRAMMAR
NO_LLM_NOTICE = (
    "No LLM is configured: answers come from retrieval alone (the SQL of the closest stored example). "
    "For generated SQL run `coderag models pull mistral-7b-instruct-v0.2` and set llm.model_path "
    "(or CODERAG_LLM__MODEL_PATH, or --llm-model-path), or point openai.base_url at a server."
)


class Generator:
    """Turns a prompt (and the retrieved examples) into the model's raw answer text."""

    name = "generator"
    uses_prompt = True
    streams = False  # whether `stream` yields the answer token by token
    abstains = False  # whether the chain may withhold its answer when the evidence is weak (knn)

    def generate(self, prompt: PromptValue, hits: list[Hit], db: str | None, dialect: str = "sqlite") -> str:
        """`dialect`: the SQL dialect of the database asked (sqlglot's name), for a grammar that fits it."""
        raise NotImplementedError

    def stream(self, prompt: PromptValue, hits: list[Hit], db: str | None, dialect: str = "sqlite") -> Iterator[str]:
        """The answer so far, each time it grows; the last one is the whole answer. Generators that
        cannot stream (`streams` False) give the whole answer at once."""
        yield self.generate(prompt, hits, db, dialect)

    def close(self) -> None:
        """Release native resources (a loaded model, an HTTP client)."""

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class KnnGenerator(Generator):
    """No LLM: returns the SQL of the closest retrieved example for the same database."""

    name = "knn"
    uses_prompt = False
    abstains = True  # the chain checks its confidence (rag.abstain) before running the SQL

    def generate(self, prompt: PromptValue, hits: list[Hit], db: str | None, dialect: str = "sqlite") -> str:
        usable = [h for h in hits if db is None or h.document.db == db]
        if not usable:
            raise SQLError(
                "knn has no stored example for this database to answer from",
                kind="no_sql",
                hint="synthesize examples for it with `coderag db add PATH --name NAME`, teach some with `coderag db teach`, or configure an LLM",
            )
        return usable[0].document.sql


_DONE = object()  # the end of a model's stream


@dataclass
class ChatModelGenerator(Generator):
    """Any LangChain chat model (LlamaCppChat, ChatOpenAI), bounded: one whole answer takes at most
    `timeout_s` and `max_chars` characters, whatever the model or server does."""

    chat_model: Any
    name: str = "llm"
    timeout_s: float = 300.0
    max_chars: int = 20_000
    streams = True
    grammar_for: Callable[[str], Any] | None = None  # dialect → the llama.cpp grammar of its SELECT (llm.grammar)
    _closers: list[Any] = field(default_factory=list, repr=False)

    def generate(self, prompt: PromptValue, hits: list[Hit], db: str | None, dialect: str = "sqlite") -> str:
        text = ""
        for piece in self.stream(prompt, hits, db, dialect):
            text = piece
        return text

    def stream(self, prompt: PromptValue, hits: list[Hit], db: str | None, dialect: str = "sqlite") -> Iterator[str]:
        """Token by token through the chat model's `stream` (llama.cpp and OpenAI-compatible servers
        both stream). A helper thread reads the model, so a server that hangs or drips forever is
        left at `timeout_s`, and an answer that grows past `max_chars` is refused; the thread stops
        at its next token (or at the HTTP client's own read timeout). With `grammar_for`, a database
        of another dialect than SQLite gets that dialect's grammar (rag.grammar) for this call."""
        options = {"grammar": self.grammar_for(dialect)} if self.grammar_for is not None and dialect != "sqlite" else {}
        pieces: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def read_model() -> None:
            try:
                for chunk in self.chat_model.stream(prompt, **options):
                    if stop.is_set():
                        return
                    pieces.put(str(getattr(chunk, "content", chunk)))
                pieces.put(_DONE)
            except BaseException as exc:  # llama.cpp raises ValueError/RuntimeError, HTTP clients their own types
                pieces.put(exc)

        deadline = time.monotonic() + self.timeout_s
        threading.Thread(target=read_model, name=f"{self.name} stream", daemon=True).start()
        text = ""
        try:
            while True:
                try:
                    piece = pieces.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise SQLError(
                        f"the {self.name} generator gave no complete answer within {self.timeout_s:g} s", kind="generation_error"
                    ) from None
                if piece is _DONE:
                    break
                if isinstance(piece, BaseException):
                    raise self._failure(piece) from None
                if piece:
                    text += piece
                    if len(text) > self.max_chars:
                        raise SQLError(f"the model's answer grew past {self.max_chars:,} characters; reading stopped", kind="too_large")
                    yield text
        finally:
            stop.set()
        yield text

    def _failure(self, exc: BaseException) -> CodeRagError:
        if isinstance(exc, CodeRagError):  # e.g. the local model is busy
            return exc
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        hint = "raise llm.n_ctx or use fewer/shorter examples" if "context window" in first else None
        return SQLError(f"the {self.name} generator failed: {first}", kind="generation_error", hint=hint)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()


def check_gguf(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"GGUF model file not found: {path}", hint="run `coderag models pull mistral-7b-instruct-v0.2`")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelError(f"not a GGUF model file: {path}")
    return path


def llama_cpp_generator(settings: Settings, model_path: str | Path | None = None) -> ChatModelGenerator:
    """llama-cpp-python through a LangChain chat model (rag.llama_chat): the chat template comes from the GGUF."""
    path = check_gguf(model_path or settings.llm.model_path or "")
    from rag.llama_chat import LlamaCppChat

    llm = settings.llm
    try:
        chat = LlamaCppChat(
            model_path=str(path),
            n_ctx=llm.n_ctx,
            n_threads=llm.n_threads,
            n_gpu_layers=llm.n_gpu_layers,
            temperature=llm.temperature,
            seed=llm.seed,
            max_tokens=llm.max_tokens,
            grammar_path=str(GRAMMAR_PATH) if llm.grammar else None,
            busy_wait_s=llm.busy_wait_s,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"llama.cpp could not load {path}: {str(exc).splitlines()[0]}") from None
    grammar_for = None
    if llm.grammar:
        from llama_cpp import LlamaGrammar

        from rag.grammar import grammar_text

        grammar_for = functools.cache(lambda dialect: LlamaGrammar.from_string(grammar_text(dialect), verbose=False))
    return ChatModelGenerator(
        chat_model=chat,
        name=f"llm:{path.name}",
        timeout_s=llm.timeout_s,
        max_chars=llm.max_answer_chars,
        grammar_for=grammar_for,
        _closers=[chat.close],
    )


def openai_generator(settings: Settings, base_url: str | None = None) -> ChatModelGenerator:
    """Any OpenAI-compatible server: llama.cpp server, vLLM, Ollama."""
    url = base_url or settings.openai.base_url
    if not url:
        raise ConfigError("the openai generator needs a server URL (openai.base_url / CODERAG_OPENAI__BASE_URL / --openai-base-url)")
    from langchain_openai import ChatOpenAI

    cfg = settings.openai
    chat = ChatOpenAI(
        base_url=url,
        api_key=cfg.api_key,
        model=cfg.model,
        temperature=settings.llm.temperature,
        seed=settings.llm.seed,
        # `max_tokens` itself: LangChain would send it as `max_completion_tokens`, which
        # llama-cpp-python's server ignores (it then writes until the context is full)
        extra_body={"max_tokens": settings.llm.max_tokens},
        timeout=cfg.timeout_s,
        max_retries=0,  # a retry would silently double the wait on a hung server
    )
    return ChatModelGenerator(chat_model=chat, name=f"openai:{cfg.model}", timeout_s=cfg.timeout_s, max_chars=settings.llm.max_answer_chars)


def make_generator(
    kind: str, settings: Settings, *, model_path: str | Path | None = None, base_url: str | None = None
) -> tuple[Generator, str | None]:
    """The generator for `kind` (auto, llm, openai, knn) and a notice to show the user, if any."""
    if kind == "auto":
        if model_path or settings.llm.model_path:
            kind = "llm"
        elif base_url or settings.openai.base_url:
            kind = "openai"
        else:
            return KnnGenerator(), NO_LLM_NOTICE
    if kind == "llm":
        if not (model_path or settings.llm.model_path):
            raise ConfigError(
                "the llm generator needs a GGUF file: --llm-model-path or llm.model_path", hint=NO_LLM_NOTICE.split(": ", 1)[0]
            )
        return llama_cpp_generator(settings, model_path), None
    if kind == "openai":
        return openai_generator(settings, base_url), None
    if kind == "knn":
        return KnnGenerator(), None
    raise ConfigError(f"unknown generator '{kind}' (auto, llm, openai, knn)")


def pull_model(settings: Settings, repo: str | None = None, filename: str | None = None) -> Path:
    """Download the GGUF with huggingface_hub (online only) into the models directory."""
    from huggingface_hub import hf_hub_download

    repo = repo or settings.llm.hub_repo
    filename = filename or settings.llm.hub_file
    try:
        path = hf_hub_download(repo_id=repo, filename=filename, local_dir=str(settings.models_dir))
    except Exception as exc:  # huggingface_hub raises many types for offline / missing files
        raise ModelError(
            f"could not download {repo}/{filename}: {type(exc).__name__}",
            hint="offline? copy the GGUF file here yourself and set llm.model_path",
        ) from None
    return Path(path)
