"""Numbers people can read: printed tables round floats for display; --json keeps the exact value."""

from __future__ import annotations

import doctest
import json
from typing import Any

import rag.display
import ui.commands.output


def test_floats_are_rounded_for_display_only(coderag: Any) -> None:
    printed = coderag("sql", "--db", "bookshop", "SELECT 0.1 + 0.2 AS x, 523.0600000000003 AS total")
    assert printed.returncode == 0, printed.stderr
    assert "0.3 " in printed.stdout and "523.06 " in printed.stdout
    assert "0.30000000000000004" not in printed.stdout and "523.0600000000003" not in printed.stdout
    exact = coderag("sql", "--db", "bookshop", "--json", "SELECT 0.1 + 0.2 AS x, 523.0600000000003 AS total")
    assert json.loads(exact.stdout)["rows"] == [[0.30000000000000004, 523.0600000000003]]


def test_doctests() -> None:
    for module in (ui.commands.output, rag.display):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0
