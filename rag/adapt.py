"""Retrieve, then adapt: knn's answer fitted to the question, without an LLM.

The closest stored examples' SQL are sketches. Each is parsed (sqlglot) and its slots are filled
from the question, on the AST, never by splicing strings:

- `table`     the question names a table the sketch does not read, and the sketch's one table is
              not named: the table is swapped, each column mapped by name (a text column to the
              new table's named text column);
- `aggregate` the wording asks for another aggregate ("average" and AVG, "total" and SUM,
              "highest" and MAX, "lowest" and MIN) than the sketch's;
- `grouping`  a GROUP BY the question does not ask for ("the average price", not "in each genre")
              is removed with its columns, the aggregates kept;
- `order`     "highest"/"lowest" against the sketch's ORDER BY direction; "top 5" sets the LIMIT;
- `column`    a column the question does not name is replaced by a same-typed column of the same
              table that it does;
- `value`     a literal the question does not mention is replaced by a number, quoted string or
              cell value (from the database's sampled values, rag.masking) that it does, in the
              column that value was found in;
- `filter`    a mentioned cell value of a table the sketch reads, or "more than 5" with a mentioned
              numeric column, becomes a new WHERE condition; a condition whose value the question
              never mentions may be dropped.

Every candidate is executed read-only and checked (no error, some rows, not all empty or zero
where a filter was added); the evidence of `rag.abstain` is gathered for each, with its edit
count, and the candidate with the best confidence is the answer. Adaptation gives up cleanly: a
sketch that does not parse or whose slots cannot be filled yields only itself, and the whole
search stops at its time budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from rag.abstain import Evidence, confidence, gather
from rag.adapt_edits import STEPS, Edit, Sketch
from rag.adapt_question import MAX_WORDS, MIN_WORDS, Question
from rag.engines import Database
from rag.errors import CodeRagError, SQLError
from rag.index import Hit
from rag.masking import Vocabulary
from rag.sandbox import QueryResult
from rag.sqltools import parse_sqlite

__all__ = ["Adaptation", "Edit", "adapt"]


@dataclass
class Adaptation:
    """The chosen candidate: its SQL, the example it came from, the edits, and its evidence."""

    sql: str
    from_id: str
    edits: tuple[Edit, ...]
    evidence: Evidence
    confidence: float
    result: QueryResult | None = None
    candidates: int = 0  # candidates scored

    def to_json(self) -> dict[str, Any]:
        return {"from_id": self.from_id, "edits": [str(e) for e in self.edits], "candidates": self.candidates}


@dataclass(frozen=True)
class AdaptLimits:
    """Bounds on the search: sketches tried, candidates scored and executed, and time."""

    sketches: int = 5
    max_candidates: int = 40
    budget_s: float = 2.0
    max_rows: int = 1000


# --- search and scoring ----------------------------------------------------------------------------


def candidates(question: str, sql: str, vocabulary: Vocabulary, *, limit: int = 16) -> list[tuple[str, tuple[Edit, ...]]]:
    """The sketch `sql` and its adaptations to `question` (SQL, edits), the sketch first; at most `limit`."""
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return [(sql, ())]
    q = Question.read(question, vocabulary)
    states = [Sketch(tree)]
    for step in STEPS:
        grown: list[Sketch] = []
        for state in states:
            try:
                grown.extend(step(state, q, vocabulary))
            except (CodeRagError, ValueError, AttributeError, TypeError, KeyError):
                grown.append(state)  # a sketch this step cannot edit stays as it is
            if len(grown) >= limit:
                break
        states = grown[:limit]
    out: dict[str, tuple[Edit, ...]] = {sql: ()}
    for state in states:
        try:
            text = state.sql()
        except Exception:  # sqlglot's generator on an odd tree: leave that candidate out
            continue
        if state.edits and text not in out:
            out[text] = tuple(state.edits)
    return list(out.items())


def adapt(
    question: str,
    hits: Sequence[Hit],
    database: Database,
    vocabulary: Vocabulary,
    limits: AdaptLimits = AdaptLimits(),
    weights: dict[str, float] | None = None,
) -> Adaptation | None:
    """The best-scored candidate among the top sketches' adaptations (None without hits).

    Candidates are scored by `rag.abstain`'s confidence on their own evidence, then executed best
    first until one gives a result that is not degenerate; the unadapted closest example is always
    among them, so adaptation never answers worse-scored than knn would."""
    if not hits:
        return None
    deadline = time.monotonic() + limits.budget_s
    sketches: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.document.sql not in seen:
            seen.add(hit.document.sql)
            sketches.append(hit)
        if len(sketches) >= limits.sketches:
            break
    scored: list[tuple[float, int, str, tuple[Edit, ...], Hit, Evidence]] = []
    q = Question.read(question, vocabulary)
    for rank, hit in enumerate(sketches):
        if time.monotonic() > deadline:
            break
        for sql, edits in candidates(question, hit.document.sql, vocabulary, limit=max(2, limits.max_candidates // len(sketches))):
            if rank > 0 and not edits:
                continue  # other sketches only compete through their adaptations
            top = Hit(replace(hit.document, sql=sql), hit.score, hit.rank)
            evidence = gather(question, [top, *[h for h in hits if h is not hit]])
            if evidence is None:
                continue
            scored.append((alignment(q, sql, evidence), -len(edits), sql, edits, hit, evidence))
    scored.sort(key=lambda item: (item[0], item[4].score, item[1]), reverse=True)
    for _, _, sql, edits, hit, evidence in scored[: limits.max_candidates]:
        score = confidence(evidence, weights) if weights else confidence(evidence)
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        if not edits:
            return Adaptation(sql, hit.document.id, (), evidence, score, None, len(scored))
        try:
            result = database.execute(sql, timeout_s=min(remaining, 2.0), max_rows=limits.max_rows)
        except CodeRagError:
            continue
        if _degenerate(result, edits):
            continue
        return Adaptation(sql, hit.document.id, edits, evidence, score, result, len(scored))
    top = hits[0]
    evidence = gather(question, list(hits))
    assert evidence is not None
    return Adaptation(
        top.document.sql,
        top.document.id,
        (),
        evidence,
        confidence(evidence, weights) if weights else confidence(evidence),
        None,
        len(scored),
    )


def alignment(q: Question, sql: str, evidence: Evidence) -> float:
    """How well a candidate's SQL fits the question's words: the mean of abstain's agreement signals
    (literals both ways, schema words both ways, wording shape), of the share of the cell values the
    question names that the SQL uses, and of the ORDER/MAX direction. Candidates are ranked by it;
    similarity only breaks ties (it is the same for a sketch's variants)."""
    parts = [evidence.sql_literals, evidence.question_literals, evidence.sql_words, evidence.question_words, evidence.shape]
    if q.values:
        text = sql.lower().replace("''", "'")
        parts.append(sum(f"'{value.lower()}'" in text for value, _ in q.values) / len(q.values))
    direction = _direction(q.text, sql)
    if direction is not None:
        parts.append(direction)
    return sum(parts) / len(parts)


def _direction(question: str, sql: str) -> float | None:
    """1.0 when "highest"/"lowest" wording and the SQL's ORDER BY direction or MAX/MIN agree, 0.0
    when they disagree, None when the question or the SQL has no direction."""
    wants_max, wants_min = bool(MAX_WORDS.search(question)), bool(MIN_WORDS.search(question))
    if wants_max == wants_min:
        return None
    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return None
    says: set[bool] = set()  # True: the SQL picks the largest
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is not None and tree.args.get("limit") is not None and order.expressions:
        says.add(bool(order.expressions[0].args.get("desc")))
    says |= {isinstance(f, exp.Max) for f in tree.find_all(exp.Max, exp.Min)}
    if len(says) != 1:
        return None
    return 1.0 if says == {wants_max} else 0.0


def _degenerate(result: QueryResult, edits: tuple[Edit, ...]) -> bool:
    """No rows, only NULLs, or (after a value or filter edit) only zeros: not an answer to trust."""
    if not result.rows:
        return True
    cells = [cell for row in result.rows for cell in row]
    if all(cell is None for cell in cells):
        return True
    filtered = any(e.kind in ("value", "filter") for e in edits)
    return filtered and len(result.rows) == 1 and all(cell in (0, None) for cell in cells)
