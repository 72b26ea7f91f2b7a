"""A LangChain chat model on llama-cpp-python.

It replaces langchain-community's ChatLlamaCpp: that package is being sunset
(langchain-ai/langchain-community#674) and no standalone llama.cpp integration package exists, so
this is the small part coderag needs, on langchain-core's `BaseChatModel`: the chat template comes
from the GGUF (llama-cpp-python's `create_chat_completion`), optional GBNF grammar, streaming.

Sampling defaults are ChatLlamaCpp's (top_p 0.95, top_k 40, repeat_penalty 1.1), so answers do not
change with the move; coderag runs at temperature 0 (greedy) anyway. The prompt batch is
llama.cpp's default of 512 tokens instead of ChatLlamaCpp's 8, which evaluated long few-shot
prompts 8 tokens at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, model_validator

from rag.errors import SQLError


class LlamaCppChat(BaseChatModel):
    """Chat completions from a local GGUF model through llama-cpp-python."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    n_batch: int = 512
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    grammar_path: str | None = None
    verbose: bool = False
    client: Any = Field(default=None, exclude=True)
    grammar: Any = Field(default=None, exclude=True)
    # llama.cpp's context is not thread-safe: one call (or one stream, start to end) at a time;
    # a call waits at most `busy_wait_s` for its turn (None: as long as it takes).
    lock: Any = Field(default_factory=threading.RLock, exclude=True)
    busy_wait_s: float | None = None

    @model_validator(mode="after")
    def _load(self) -> LlamaCppChat:
        from llama_cpp import Llama, LlamaGrammar

        if self.client is None:
            self.client = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                n_batch=self.n_batch,
                seed=self.seed,
                verbose=self.verbose,
            )
        if self.grammar_path and self.grammar is None:
            self.grammar = LlamaGrammar.from_file(self.grammar_path, verbose=self.verbose)
        return self

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "seed": self.seed,
            "grammar_path": self.grammar_path,
            **self._sampling(None),
        }

    def _sampling(self, stop: list[str] | None) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repeat_penalty": self.repeat_penalty,
            "stop": stop or [],
        }

    def _complete(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any) -> Any:
        params = {"grammar": self.grammar, **self._sampling(stop), **kwargs}  # a call's own grammar (the judge's) wins
        return self.client.create_chat_completion(messages=convert_to_openai_messages(messages), stream=stream, **params)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """Hold the model for one call; waiting past `busy_wait_s` is a "busy" SQLError the user sees."""
        if not self.lock.acquire(timeout=-1 if self.busy_wait_s is None else self.busy_wait_s):
            raise SQLError(
                f"the local model is busy with another question (waited {self.busy_wait_s:g} s); try again in a moment", kind="busy"
            )
        try:
            yield
        finally:
            self.lock.release()

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> ChatResult:
        with self._turn():
            response = self._complete(messages, stop, False, **kwargs)
        choice = response["choices"][0]
        message = AIMessage(content=choice["message"].get("content") or "")
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": choice.get("finish_reason")})],
            llm_output={"token_usage": response.get("usage", {})},
        )

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        with self._turn():
            for part in self._complete(messages, stop, True, **kwargs):
                if not part["choices"]:
                    continue
                choice = part["choices"][0]
                text = (choice.get("delta") or {}).get("content") or ""
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(content=text), generation_info={"finish_reason": finish} if finish else None
                )
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk

    def close(self) -> None:
        """Free the model (llama.cpp's native memory)."""
        with self.lock:
            if self.client is not None:
                self.client.close()
                self.client = None
