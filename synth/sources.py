"""Inputs for synthesis: snippets of SQL or source code, each with its language and origin.

Two sources: any corpus the rag loaders read (each `Example` becomes a SQL snippet that keeps its
question, its gretel `sql_explanation` and its database script), and a directory of source
code (`--from-dir`): functions, methods and classes through Python's `ast` for .py files, a
plain blank-line splitter for other languages. Binary, undecodable, oversized and unparseable
files are skipped and counted, never fatal.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.corpus import Example
from rag.errors import DataError
from rag.sqltools import split_statements

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".lua": "lua",
    ".sh": "shell",
    ".sql": "sql",
    ".r": "r",
    ".jl": "julia",
}
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", "build", "dist", ".mypy_cache"}
MAX_FILE_BYTES = 1_000_000
MIN_LINES, MAX_LINES = 3, 120
_COMMENT = re.compile(r"^\s*(?://+|#+|--+|/\*+|\*+/?|\*)\s?(.*?)\s*(?:\*/)?\s*$")


@dataclass
class Snippet:
    """A piece of code to synthesise from. `body` is the code without its docstring/leading comment."""

    text: str
    language: str
    origin: str
    question: str = ""
    explanation: str = ""
    docstring: str = ""
    body: str = ""
    context: str = ""
    db_path: str | None = None
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceReport:
    """What reading the inputs found and skipped (reason → count)."""

    snippets: list[Snippet] = field(default_factory=list)
    files: int = 0
    skipped: Counter = field(default_factory=Counter)

    def extend(self, other: SourceReport) -> None:
        self.snippets.extend(other.snippets)
        self.files += other.files
        self.skipped.update(other.skipped)


def snippets_from_examples(examples: list[Example]) -> SourceReport:
    """One SQL snippet per example; an example with an empty SQL is skipped."""
    report = SourceReport()
    for ex in examples:
        sql = ex.sql.strip().rstrip(";").strip()
        if not sql:
            report.skipped["empty SQL"] += 1
            continue
        report.snippets.append(
            Snippet(
                text=sql,
                language="sql",
                origin=f"{ex.source}:{ex.split}:{ex.id}",
                question=ex.question.strip(),
                explanation=str(ex.meta.get("sql_explanation") or "").strip(),
                body=sql,
                context=ex.context,
                db_path=ex.db_path,
                meta={k: ex.meta[k] for k in ("domain", "sql_complexity") if ex.meta.get(k)} | {"db_id": ex.db_id},
            )
        )
    return report


def snippets_from_dir(directory: str | Path) -> SourceReport:
    """Functions and classes of every source file under `directory` (sorted, hidden and vendored dirs skipped)."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DataError(f"source directory not found: {root}")
    report = SourceReport()
    for path in sorted(_walk(root)):
        language = EXTENSIONS.get(path.suffix.lower())
        if language is None:
            continue
        report.files += 1
        text, reason = _read_source(path)
        if text is None:
            report.skipped[reason] += 1
            continue
        rel = path.relative_to(root).as_posix()
        if language == "python":
            try:
                found = python_snippets(text, rel)
            except (SyntaxError, ValueError):
                report.skipped["python syntax error (split as plain text)"] += 1
                found = plain_snippets(text, rel, language)
        elif language == "sql":
            found = sql_snippets(text, rel)
        else:
            found = plain_snippets(text, rel, language)
        if not found:
            report.skipped["no usable snippet"] += 1
        report.snippets.extend(found)
    return report


def _walk(root: Path):
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
            continue
        if path.is_file() and not path.name.startswith("."):
            yield path


def _read_source(path: Path) -> tuple[str | None, str]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None, "file too large"
        data = path.read_bytes()
    except OSError:
        return None, "unreadable file"
    if b"\x00" in data[:8192]:
        return None, "binary file"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "undecodable file (not UTF-8)"


def python_snippets(source: str, origin: str) -> list[Snippet]:
    """Top-level functions and classes and the methods of classes, with their docstrings split off."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out: list[Snippet] = []

    def visit(nodes: list[ast.stmt], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                snippet = _python_snippet(node, lines, origin, prefix)
                if snippet is not None:
                    out.append(snippet)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return out


def _python_snippet(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, lines: list[str], origin: str, prefix: str
) -> Snippet | None:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    end = node.end_lineno or node.lineno
    if end - start + 1 < MIN_LINES or end - start + 1 > MAX_LINES:
        return None
    code = textwrap.dedent("\n".join(lines[start - 1 : end])).strip("\n")
    docstring = ast.get_docstring(node) or ""
    body = code
    first = node.body[0] if node.body else None
    if docstring and isinstance(first, ast.Expr):
        after = lines[(first.end_lineno or first.lineno) : end]
        while after and not after[0].strip():  # the blank line that followed the docstring
            after = after[1:]
        body = textwrap.dedent("\n".join(lines[start - 1 : first.lineno - 1] + after)).strip("\n")
        if len(body.splitlines()) < 2:
            body = ""
    return Snippet(
        text=code,
        language="python",
        origin=f"{origin}:{prefix}{node.name}",
        docstring=docstring.strip(),
        body=body,
        name=f"{prefix}{node.name}",
        meta={"line": start},
    )


def plain_snippets(source: str, origin: str, language: str) -> list[Snippet]:
    """Blocks that start at column 0 after a blank line, merged up to MIN_LINES and cut at MAX_LINES;
    a leading comment becomes the block's docstring."""
    lines = source.splitlines()
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(lines, 1):
        starts_block = bool(line) and not line[0].isspace() and (number == 1 or not lines[number - 2].strip())
        if starts_block and len([x for x in current if x.strip()]) >= MIN_LINES:
            blocks.append((start, current))
            current, start = [], number
        if not current:
            start = number
        current.append(line)
    if current:
        blocks.append((start, current))
    out = []
    for first_line, block in blocks:
        block = block[:MAX_LINES]
        text = "\n".join(block).strip("\n")
        if len([x for x in block if x.strip()]) < MIN_LINES:
            continue
        docstring, body = _split_leading_comment(text)
        out.append(
            Snippet(
                text=text,
                language=language,
                origin=f"{origin}:{first_line}-{first_line + len(block) - 1}",
                docstring=docstring,
                body=body if docstring else text,
                meta={"line": first_line},
            )
        )
    return out


def _split_leading_comment(text: str, min_body_lines: int = 2) -> tuple[str, str]:
    lines = text.splitlines()
    comment: list[str] = []
    for line in lines:
        stripped = line.strip()
        match = _COMMENT.match(line) if stripped.startswith(("//", "#", "--", "/*", "*")) else None
        if match is None:
            break
        comment.append(match.group(1))
    doc = " ".join(c for c in comment if c).strip()
    body = "\n".join(lines[len(comment) :]).strip("\n")
    if not doc or len(body.splitlines()) < min_body_lines:
        return "", text
    return doc, body


def sql_snippets(source: str, origin: str) -> list[Snippet]:
    """One snippet per statement of a .sql file; the comment lines before a statement become its docstring."""
    out = []
    position = 0
    for number, sql in enumerate(split_statements(source), 1):
        start = source.find(sql, position)
        before, position = source[position:start], start + len(sql)  # the statements come in order, verbatim
        lines = [_COMMENT.match(line) for line in before.lstrip(";").splitlines() if line.strip()]
        docstring = " ".join(m.group(1) for m in lines if m and m.group(1)).strip()
        out.append(Snippet(text=sql, language="sql", origin=f"{origin}:{number}", docstring=docstring, body=sql))
    return out
