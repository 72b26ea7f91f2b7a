"""Counters for a synthesis run, per category, safe to update from worker threads."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from synth.task import CATEGORIES

# per-category counters, in the order the summary table shows them
STAGES: tuple[str, ...] = ("made", "judged_out", "duplicates", "failures", "inconsistent", "selected")


@dataclass
class SynthStats:
    """What a run made, dropped and skipped. `stage` counters are per category; `notes` are free-form
    run-wide counts (skipped inputs by reason, cache hits, negatives by origin, failure reasons)."""

    stages: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in STAGES})
    notes: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, stage: str, category: str, n: int = 1) -> None:
        with self._lock:
            self.stages[stage][category] += n

    def note(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.notes[key] += n

    def merge(self, other: SynthStats) -> None:
        with self._lock:
            for stage, counter in other.stages.items():
                self.stages[stage].update(counter)
            self.notes.update(other.notes)

    def total(self, stage: str) -> int:
        return sum(self.stages[stage].values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_category": {c.value: {s: self.stages[s][c.value] for s in STAGES} for c in CATEGORIES},
            "totals": {s: self.total(s) for s in STAGES},
            "notes": dict(sorted(self.notes.items())),
        }

    def table(self, title: str = "Synthesis summary") -> Any:
        from rich.table import Table

        table = Table(title=title)
        table.add_column("category")
        for stage in STAGES:
            table.add_column(stage.replace("_", " "), justify="right")
        for category in CATEGORIES:
            table.add_row(category.value, *(str(self.stages[s][category.value]) for s in STAGES))
        table.add_row("total", *(str(self.total(s)) for s in STAGES), style="bold")
        return table

    def __getstate__(self) -> dict[str, Any]:
        return {"stages": self.stages, "notes": self.notes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.stages, self.notes = state["stages"], state["notes"]
        self._lock = threading.Lock()
