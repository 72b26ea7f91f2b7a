"""What a question says, read for adapting a sketch (rag.adapt): its content words (stemmed), its
numbers and quoted strings, the cell values it spells out, and the wording cues ("highest",
"average", "more than") that the edit steps (rag.adapt_edits) act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from rag.abstain import question_literals
from rag.masking import STOP_WORDS, Vocabulary
from rag.words import same_number, singular, split_identifier, stem

_WORD = re.compile(r"\w+")
MAX_WORDS = re.compile(
    r"\b(?:highest|maximum|max|largest|biggest|longest|most|greatest|top|latest|newest|strongest|heaviest|"
    r"tallest|deepest|busiest|hottest|warmest|priciest|farthest)\b",
    re.I,
)
MIN_WORDS = re.compile(
    r"\b(?:lowest|minimum|min|smallest|shortest|least|fewest|earliest|cheapest|lightest|coldest|nearest|closest)\b",
    re.I,
)
AGGREGATE_CUES: tuple[tuple[type[exp.Expression], re.Pattern[str]], ...] = (
    (exp.Avg, re.compile(r"\baverage\b|\bmean\b|\bavg\b", re.I)),
    (exp.Sum, re.compile(r"\btotal\b|\bsum\b|\bcombined\b|\baltogether\b", re.I)),
)
_LIMIT_CUE = re.compile(
    r"\b(?:top|first|last)\s+(\d{1,4})\b|\b(\d{1,4})\s+(?:most|least|highest|lowest|largest|smallest|biggest|best|worst)\b", re.I
)
COMPARISONS: tuple[tuple[re.Pattern[str], type[exp.Expression]], ...] = (
    (re.compile(r"\b(?:at least|no less than|or more)\b", re.I), exp.GTE),
    (re.compile(r"\b(?:at most|no more than|or less|or fewer)\b", re.I), exp.LTE),
    (
        re.compile(
            r"\b(?:more|greater|higher|larger|bigger|longer|older|later|heavier|over|above|after|exceed(?:s|ing)?)\b(?:\s+than)?", re.I
        ),
        exp.GT,
    ),
    (re.compile(r"\b(?:less|fewer|lower|smaller|shorter|younger|earlier|lighter|under|below|before)\b(?:\s+than)?", re.I), exp.LT),
)
_NUMERIC_TYPES = ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")


def _name_stems(name: str) -> set[str]:
    words = [w.lower() for w in split_identifier(name)]
    return {stem(w) for w in words if len(w) > 2 and w not in STOP_WORDS and w != "id"}


def is_numeric(declared: str) -> bool:
    """Whether a column's declared type holds numbers (INTEGER, REAL, NUMERIC, DECIMAL, ...)."""
    return any(t in declared.upper() for t in _NUMERIC_TYPES)


@dataclass
class Question:
    """The question's words, numbers, quoted strings and the cell values it mentions."""

    text: str
    stems: set[str]
    numbers: list[str]
    quoted: list[str]
    values: list[tuple[str, tuple[tuple[str, str], ...]]]  # (stored value, [(table, column)])
    limit: int | None

    @classmethod
    def read(cls, text: str, vocabulary: Vocabulary) -> Question:
        words = [w.lower() for w in _WORD.findall(text)]
        stems = {stem(w) for w in words if len(w) > 2 and w not in STOP_WORDS}
        limit_match = _LIMIT_CUE.search(text)
        limit = int(limit_match.group(1) or limit_match.group(2)) if limit_match else None
        literals = question_literals(text)
        quoted = [q for q in literals if not re.fullmatch(r"[\d.]+", q)]
        numbers = [n for n in literals if re.fullmatch(r"\d+(?:\.\d+)?", n) and (limit is None or int(float(n)) != limit)]
        names = {stem(w) for name in (*vocabulary.tables, *vocabulary.columns) for w in split_identifier(name)}
        values = [(v, where) for v, where in _mentioned_values(words, vocabulary) if not {stem(w) for w in _WORD.findall(v)} <= names]
        return cls(text, stems, numbers, quoted, values, limit)

    def mentions(self, literal: str) -> bool:
        value = literal.strip("%_ ").lower()
        if not value:
            return True
        if re.fullmatch(r"-?\d+(?:\.\d+)?", value):
            return any(same_number(value, n) for n in self.numbers)
        return value in self.text.lower()

    def names(self, name: str) -> float:
        """How much of an identifier's words the question says (0: none)."""
        stems = _name_stems(name)
        return len(stems & self.stems) / len(stems) if stems else 0.0


def _mentioned_values(words: list[str], vocabulary: Vocabulary, max_words: int = 6) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Sampled cell values that the question's words spell out (singular forms match plurals), longest first."""
    if not vocabulary.value_columns:
        return []
    keys = _value_keys(vocabulary)
    plain = words
    singulars = [singular(w) for w in words]
    found: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    taken = [False] * len(words)
    for n in range(min(max_words, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            if any(taken[i : i + n]):
                continue
            for form in (tuple(plain[i : i + n]), tuple(singulars[i : i + n])):
                hit = keys.get(form)
                if hit is not None:
                    found.append(hit)
                    taken[i : i + n] = [True] * n
                    break
    return found


def _value_keys(vocabulary: Vocabulary) -> dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]]:
    cached = vocabulary.__dict__.get("_adapt_value_keys")
    if cached is not None:
        return cached
    keys: dict[tuple[str, ...], tuple[str, tuple[tuple[str, str], ...]]] = {}
    for value, where in vocabulary.value_columns.items():
        words = tuple(w.lower() for w in _WORD.findall(value))
        if not words or len(words) > 6 or (len(words) == 1 and (words[0] in STOP_WORDS or len(words[0]) < 2 or words[0].isdigit())):
            continue
        keys.setdefault(words, (value, where))
        keys.setdefault(tuple(singular(w) for w in words), (value, where))
    vocabulary.__dict__["_adapt_value_keys"] = keys  # a frozen dataclass still has a __dict__ to cache in
    return keys
