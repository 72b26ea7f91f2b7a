"""How the commands print: one-line errors on stderr, JSON on stdout, tables of rows with long
values cut (user data is never read as markup)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rag.display import shown

out = Console()
err = Console(stderr=True)

PREVIEW_ROWS = 20
CELL_CHARS = 200  # longer values are cut in printed tables (--json prints them whole)
MESSAGE_CHARS = 500  # longer error messages are cut: they may quote user data


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """`text` on one line, cut to `limit` characters.

    >>> one_line("near 'x':\\n  syntax error", 14)
    "near 'x': synt… (22 characters)"
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat):,} characters)"


def print_error(message: object, label: str = "error") -> None:
    """One line on stderr; user data in it is never read as markup or highlighted (rich's highlighter
    is quadratic in the line length)."""
    err.print(Text.assemble((f"{label}:", "red"), " ", one_line(str(message))), soft_wrap=True, highlight=False)


def print_json(payload: Any) -> None:
    """JSON on stdout as plain text (no highlighting: results may be megabytes)."""
    sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")


def cell(value: Any) -> Text:
    """A table cell: the value as the user would write it, on one line, cut."""
    return Text(one_line(shown(value), CELL_CHARS))


def print_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> None:
    """The first PREVIEW_ROWS rows as a table, and how many there are."""
    table = Table()
    for column in columns:
        table.add_column(cell(column))
    for row in rows[:PREVIEW_ROWS]:
        table.add_row(*(cell(v) for v in row))
    out.print(table)
    more = "+" if truncated else ""
    listed = min(len(rows), PREVIEW_ROWS)
    out.print(f"[dim]{listed} of {len(rows)}{more} rows shown[/]")
