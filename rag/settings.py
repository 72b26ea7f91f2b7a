"""Typed settings: `configs/default.yaml`, then `CODERAG_…` environment variables, then CLI flags.

Nested fields use a double underscore in the environment, e.g. `CODERAG_LLM__MODEL_PATH=/models/m.gguf`
or `CODERAG_EXECUTION__TIMEOUT_S=2`. `CODERAG_CONFIG` points at another YAML file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from rag.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"

GeneratorName = Literal["auto", "llm", "openai", "knn"]
EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]
ENV_PREFIX = "CODERAG_"
_OTHER_ENV = {
    "CODERAG_CONFIG",
    "CODERAG_DB_PASSWORD",
    "CODERAG_DB_PASSFILE",
}  # read by coderag (the last two: rag.engines), but not settings
_TORCH_DEVICE = r"^(cpu|mps|(cuda|xpu)(:\d+)?)$"


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity), not the host's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "coderag"


class _Section(BaseModel):
    """A settings section: a misspelt key is an error (with the nearest key), never a silent default."""

    model_config = ConfigDict(extra="forbid")


class EmbedderSettings(_Section):
    model: str = Field(
        "shipped",
        description="'shipped' (the project's retriever, rag/data/model), 'bundled' (all-MiniLM-L6-v2), a model directory, or a hub id",
    )
    backend: EmbedderBackend = Field("onnx-int8", description="onnx-int8 (serving without torch), onnx (fp32) or torch")
    batch_size: int = Field(16, ge=1, le=4096, description="texts per batch; 16 embedded the most documents per CPU second with int8 ONNX")
    max_seq_length: int | None = Field(None, ge=8, le=8192, description="override the model's own limit")
    device: str = Field("cpu", pattern=_TORCH_DEVICE, description="torch device for encoding: cpu, cuda[:N], mps, xpu[:N]")
    query_threads: int | None = Field(
        1, ge=1, description="threads of the ONNX session and of one-question torch encodes; None uses every core"
    )
    workers: int = Field(
        default_factory=lambda: _usable_cpus(), ge=1, le=256, description="one-thread processes embedding large corpora (ONNX backends)"
    )


class IndexSettings(_Section):
    template: str = Field("question_sql", description="document template name (rag.documents.TEMPLATES)")
    omp_threads_single_query: int = Field(1, ge=1, description="FAISS threads for single-query search")
    kind: Literal["auto", "flat", "ivf", "hnsw"] = Field("auto", description="FAISS index: auto is flat up to 200k vectors, IVF above")


class RetrievalSettings(_Section):
    k: int = Field(3, ge=0, le=50, description="examples retrieved per question; 0 is the no-RAG baseline")
    min_confidence: float = Field(0.241, ge=0.0, le=1.0, description="knn abstains below this confidence (rag.abstain; 0 never abstains)")
    fallback: Literal["masked", "plain"] = Field(
        "masked",
        description="a database without examples of its own retrieves other databases' examples by masked question (structure) or plain question (topic)",
    )


class AdaptSettings(_Section):
    """Retrieve, then adapt (rag.adapt): knn fits the closest examples' SQL to the question."""

    enabled: bool = Field(True, description="knn adapts the retrieved SQL's values, columns, tables and aggregates to the question")
    sketches: int = Field(5, ge=1, le=50, description="closest examples (distinct SQL) adapted per question")
    max_candidates: int = Field(40, ge=1, le=500, description="adapted candidates scored per question")
    budget_s: float = Field(2.0, gt=0, le=60, description="time for adapting and checking the candidates of one question")


class LinkingSettings(_Section):
    """Schema linking (rag.linking): the tables, columns and values a question names, for the prompt and the offline answer."""

    enabled: bool = Field(True, description="link each question to its database before answering")
    max_tables: int = Field(6, ge=0, le=200, description="tables the retriever adds to the prompt beyond those the question names")
    values_per_column: int = Field(5_000, ge=0, le=1_000_000, description="distinct values read into the value index per text column")
    max_values: int = Field(200_000, ge=0, le=10_000_000, description="values in one database's value index in all")
    prompt_schema_chars: int = Field(
        8_000, ge=500, le=1_000_000, description="schema part of an LLM prompt: the whole schema when it fits, else the linked tables"
    )
    compose: bool = Field(True, description="knn: also answer with SQL composed from the link (rag.compose)")
    composed_first: bool = Field(
        True,
        description="knn: a composed answer that accounts for the whole question wins over a synthesized example (a person's examples always win)",
    )
    repair: bool = Field(True, description="LLMs: on an execution error, one more turn that shows the error to the model")


class LLMSettings(_Section):
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
    timeout_s: float = Field(300.0, gt=0, description="limit on one whole answer from llama.cpp")
    busy_wait_s: float = Field(30.0, ge=0, description="how long a request waits while another one uses the local model")
    max_answer_chars: int = Field(
        20_000, ge=100, le=1_000_000, description="longest model answer read, llama.cpp or OpenAI-compatible: reading stops there"
    )


class OpenAISettings(_Section):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    api_key: str = Field("not-needed")
    model: str = Field("mistral-7b-instruct-v0.2")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="limit on one whole answer: connecting, waiting and streaming; no retries")
    concurrency: int = Field(4, ge=1, le=64)


class ExecutionSettings(_Section):
    timeout_s: float = Field(5.0, gt=0, le=600, description="per-query time limit")
    max_rows: int = Field(1000, ge=1, description="rows returned at most")
    max_sql_chars: int = Field(50_000, ge=100, le=10_000_000, description="longest SQL statement accepted, checked before any parser")
    max_memory_mb: int = Field(
        256, ge=16, le=65536, description="SQLite heap of the query worker (its address space is capped near 2x this)"
    )
    max_value_mb: int = Field(8, ge=1, le=1024, description="largest string or blob a query may make or read")
    max_result_mb: int = Field(32, ge=1, le=4096, description="largest result returned, as encoded rows")
    allow_privileged_role: bool = Field(
        False,
        description="connect to PostgreSQL / MySQL / MariaDB as a role that may write or is a superuser "
        '(--allow-privileged-role; refused otherwise, docs/engines.md, "A read-only role"); every answer then says so',
    )


class UISettings(_Section):
    """`coderag ui`: where it listens, who may use it, and how much it accepts."""

    host: str = Field("127.0.0.1", description="interface to bind; loopback unless you mean to expose it")
    port: int = Field(7860, ge=1, le=65535)
    username: str | None = Field(None, description="with password: require a login (CODERAG_UI__USERNAME)")
    password: SecretStr | None = Field(None, description="with username: require a login (CODERAG_UI__PASSWORD)")
    token: SecretStr | None = Field(
        None,
        description="without a login: the token that lets a browser on this machine change the language model and the "
        "shared examples (the link `coderag ui` prints carries it; CODERAG_UI__TOKEN); random per start when unset",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers besides 127.0.0.1, localhost and [::1] (a loopback server answers "
        "only those: DNS rebinding); on another interface or a share link, any name unless this is set",
    )
    max_upload_mb: int = Field(100, ge=1, le=10240, description="largest SQLite upload accepted")
    max_request_mb: int = Field(8, ge=1, le=1024, description="largest request body other than an upload (refused before it is read)")
    login_tries: int = Field(
        5, ge=1, le=1000, description="wrong logins in a row a client may try at once; then each try waits 1 s, doubling up to 5 minutes"
    )
    max_schema_chars: int = Field(200_000, ge=100, description="longest pasted CREATE TABLE script accepted")
    concurrency_limit: int = Field(2, ge=1, le=64, description="requests the queue runs at once")
    max_queue: int = Field(256, ge=1, description="requests waiting at most before new ones are refused")
    preview_rows: int = Field(50, ge=1, le=10000, description="result rows shown in the table")
    allow_shared_save: bool = Field(
        False,
        description="without a login, 'save as example' writes the shared store too (otherwise a save lasts for the "
        "browser session until a person confirms it with `coderag db teach`)",
    )
    torch_threads: int | None = Field(
        1, ge=1, description="torch threads for one-question encodes in the UI server; None keeps torch's default"
    )

    def login(self) -> tuple[str, str] | None:
        """(username, password) when a login is set; half a login, or a blank name or password, is a ConfigError
        (a server that silently ran without the login its owner meant to set would be open to anyone)."""
        password = self.password.get_secret_value() if self.password is not None else None
        if self.username is None and password is None:
            return None
        if self.username is None or password is None:
            raise ConfigError("set both ui.username and ui.password (CODERAG_UI__USERNAME / CODERAG_UI__PASSWORD), or neither")
        if not self.username.strip() or not password.strip():
            raise ConfigError(
                "ui.username and ui.password must not be empty or whitespace",
                hint="set real ones, or unset both CODERAG_UI__USERNAME and CODERAG_UI__PASSWORD to run without a login",
            )
        return self.username, password


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
    adapt: AdaptSettings = AdaptSettings()
    linking: LinkingSettings = LinkingSettings()
    llm: LLMSettings = LLMSettings()
    openai: OpenAISettings = OpenAISettings()
    execution: ExecutionSettings = ExecutionSettings()
    ui: UISettings = UISettings()

    @field_validator("home")
    @classmethod
    def _home_can_be_a_directory(cls, home: Path) -> Path:
        """A home under a file (CODERAG_HOME=/dev/null/x) fails here in one line, not in a later mkdir."""
        home = home.expanduser()
        try:
            existing = next((p for p in (home, *home.parents) if p.exists()), None)
        except OSError as exc:
            raise ValueError(f"{home} cannot be used: {exc.strerror or exc}") from None
        if existing is not None and not existing.is_dir():
            raise ValueError(f"{existing} is not a directory")
        return home

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
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_settings(**overrides: Any) -> Settings:
    """Settings from YAML + environment, with `overrides` (CLI flags) on top; None values are ignored.

    Any problem is one ConfigError: an unknown key at any depth (with the nearest valid one), a
    value of the wrong type, a section variable that is not JSON."""
    check_environment()
    try:
        base = Settings()
        if not overrides:
            return base
        merged = _deep_merge(base.model_dump(), {k: v for k, v in overrides.items() if v is not None})
        return Settings(**merged)
    except ValidationError as exc:
        raise _setting_error(exc.errors()[0]) from None
    except SettingsError as exc:
        raise ConfigError(
            f"invalid setting: {exc}",
            hint="a whole section in one variable must be a JSON object; or set one key, e.g. CODERAG_EXECUTION__TIMEOUT_S=2",
        ) from None


def check_environment() -> None:
    """Every CODERAG_ variable must name a setting: a misspelt one is an error, not silently ignored."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | _OTHER_ENV
    for name in os.environ:
        top = name.upper().split("__", 1)[0]
        if top.startswith(ENV_PREFIX) and top not in known:
            raise ConfigError(f"unknown setting {name} in the environment{_nearest(top, known)}")


def _setting_error(error: Any) -> ConfigError:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] != "extra_forbidden":
        return ConfigError(f"invalid setting {where}: {error['msg'].removeprefix('Value error, ')}")
    section: type[BaseModel] = Settings
    for part in error["loc"][:-1]:
        annotation = section.model_fields[str(part)].annotation
        section = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else section
    prefix = ".".join(str(p) for p in error["loc"][:-1])
    choices = [f"{prefix}.{name}" if prefix else name for name in section.model_fields]
    env = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
    return ConfigError(f"unknown setting {where} (a YAML key or {env}){_nearest(where, choices)}")


def _nearest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], {k: v for k, v in value.items() if v is not None})
        else:
            out[key] = value
    return out
