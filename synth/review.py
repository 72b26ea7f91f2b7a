"""Row-by-row human review of a triplet file: accept, reject, or stop; accepted rows are written.

`review_rows` is the decision loop (testable with any `ask` function); `coderag synth review FILE`
drives it with rich prompts in the terminal, which also read from a pipe (e.g. `yes a | ...`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from synth.triplets import Triplet

ACCEPT, REJECT, QUIT = "a", "r", "q"


@dataclass
class ReviewOutcome:
    accepted: list[Triplet] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # (category, decision) → rows


def review_rows(rows: list[Triplet], ask: Callable[[Triplet, int, int], str], *, target: int | None = None) -> ReviewOutcome:
    """Ask about each row in order. With `target`, a category stops being reviewed once it has that
    many accepted rows (its later rows are skipped). `ask` returns a, r or q; end of input means q."""
    outcome = ReviewOutcome()
    per_category: Counter = Counter()
    for number, row in enumerate(rows, 1):
        if target is not None and per_category[row.category] >= target:
            outcome.counts[(row.category, "skipped")] += 1
            continue
        decision = ask(row, number, len(rows))
        if decision == QUIT:
            for rest in rows[number - 1 :]:
                outcome.counts[(rest.category, "not reviewed")] += 1
            break
        if decision == ACCEPT:
            row.meta["review"] = "accepted"
            outcome.accepted.append(row)
            per_category[row.category] += 1
            outcome.counts[(row.category, "accepted")] += 1
        else:
            outcome.counts[(row.category, "rejected")] += 1
    return outcome
