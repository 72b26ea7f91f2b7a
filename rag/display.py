"""Values as people read them: floats without binary noise. For display only: CSV, `--json` and
anything machine-read keep the exact value. Shared by the CLI's tables and the UI's result table."""

from __future__ import annotations

from typing import Any


def shown(value: Any) -> str:
    """A cell as printed: floats without binary noise (rounded to 10 significant digits, for display
    only: --json and CSV keep the exact value).

    >>> shown(523.0600000000003), shown(0.1 + 0.2), shown(2.0), shown(None), shown(1234567.891)
    ('523.06', '0.3', '2.0', 'NULL', '1234567.891')
    """
    if value is None:
        return "NULL"
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        text = format(value, ".10g")
        return text if any(c in text for c in ".en") else text + ".0"
    return str(value)
