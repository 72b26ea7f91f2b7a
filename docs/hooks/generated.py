"""MkDocs hook: pages that are generated from the code, so they cannot go stale.

A page holds a marker comment, and this hook replaces it with text made from the source:

- `<!-- generated: settings -->`: every setting of `rag.settings.Settings` (key, type, default,
  the value `configs/default.yaml` sets, environment variable, description), walked from the
  pydantic model itself;
- `<!-- generated: default-yaml -->`: `configs/default.yaml` as it is;
- `<!-- generated: layers -->`: the import-linter contracts of `pyproject.toml`, layer by layer.
"""

from __future__ import annotations

import enum
import sys
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _type_name(annotation: Any) -> str:
    """A short readable type: `int`, `str | None`, `auto | flat | ivf`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(str(arg) for arg in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[]`" if not value else "`" + ", ".join(map(str, value)) + "`"
    return f"`{value}`"


def _factory_default(factory: Any) -> str:
    """A default made at start. A type (`list`) makes the same value everywhere, so it is shown; a
    function may depend on the machine (the home directory, the CPUs), so it is named, not called."""
    if isinstance(factory, type):
        return _value(factory())
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return "computed at start" + (": " + doc.splitlines()[0].rstrip(".") if doc else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    """One row per setting, section by section, from the pydantic model and configs/default.yaml."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from pydantic import BaseModel

    from rag.settings import Settings

    configured = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8")) or {}
    rows = ["| setting | type | default | `configs/default.yaml` | environment | what it is |", "|---|---|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: list[str], yaml_part: dict[str, Any]) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, [*prefix, name], yaml_part.get(name) or {})
                continue
            key = ".".join([*prefix, name])
            if field.default_factory is not None:
                default = _factory_default(field.default_factory)
            else:
                default = _value(field.default)
            in_yaml = _value(yaml_part[name]) if name in yaml_part else ""
            env = "CODERAG_" + "__".join(part.upper() for part in [*prefix, name])
            rows.append(
                f"| `{key}` | {_cell(_type_name(annotation))} | {_cell(default)} | {_cell(in_yaml)} | `{env}` | {_cell(field.description or '')} |"
            )

    walk(Settings, [], configured)
    return "\n".join(rows)


def default_yaml() -> str:
    return "```yaml\n" + (ROOT / "configs" / "default.yaml").read_text(encoding="utf-8").rstrip() + "\n```"


def layers() -> str:
    """The import-linter contracts: each layer may import only the layers below it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    out: list[str] = []
    for contract in config.get("contracts", []):
        out.append(f"**{contract['name']}** (`{contract['id']}`, type `{contract['type']}`)\n")
        if contract["type"] == "layers":
            if contract.get("containers"):
                out.append("Within " + ", ".join(f"`{c}`" for c in contract["containers"]) + ":\n")
            out.append("| layer (top imports down) | modules |\n|---:|---|")
            for depth, layer in enumerate(contract["layers"], start=1):
                parts = [p.strip() for p in layer.replace("|", ":").split(":")]
                out.append(f"| {depth} | " + " · ".join(f"`{p}`" for p in parts) + " |")
        elif "ancestors" in contract:
            out.append("Packages: " + ", ".join(f"`{a}`" for a in contract["ancestors"]))
        else:
            details = {k: v for k, v in contract.items() if k not in {"id", "name", "type"}}
            out.append("```toml\n" + "\n".join(f"{k} = {v!r}" for k, v in details.items()) + "\n```")
        out.append("")
    return "\n".join(out)


GENERATORS = {"settings": settings_table, "default-yaml": default_yaml, "layers": layers}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for name, make in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
