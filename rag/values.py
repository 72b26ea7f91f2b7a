"""A database's value index: the distinct values of its text columns, matched to a question's phrases.

Built once per database state (`ValueIndex.build`, bounded per column and in all, with a progress
bar on large databases) from `SELECT DISTINCT` reads in the engine's own dialect, and matched
three ways, best first:

- exact:  the phrase is the stored value as typed ("Jazz");
- case:   the same after case and accent folding ("jazz", "JAZZ");
- fuzzy:  one or two typing slips away (rapidfuzz's normalised Indel ratio ≥ `FUZZY_CUTOFF`,
          compared only with stored values of about the same length, so a million values stay cheap).

Each match names every (table, column) the value is stored in, so a value found in two columns
yields two ranked hits and the linker chooses; nothing is invented. Numbers with units
("longer than 5 minutes", "over 2 MB") are matched to the columns whose names carry a unit of the
same kind, with the conversion spelled out (`unit_hits`).

>>> index = ValueIndex.from_values({("genres", "name"): ["Jazz", "Rock", "Bossa Nova"]})
>>> [(h.column, h.value, h.how) for h in index.match("tracks in the jazz genre")]
[('name', 'Jazz', 'case')]
>>> [(h.value, h.how) for h in index.match("songs of bosa nova")]
[('Bossa Nova', 'fuzzy')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rag.errors import SQLError
from rag.masking import STOP_WORDS
from rag.schema import DatabaseSchema, quote_identifier
from rag.sqltools import to_dialect
from rag.words import singular

__all__ = ["QUANTITY_WORDS", "NumberMention", "UnitHit", "ValueHit", "ValueIndex", "column_dimension", "numbers_in", "unit_hits"]

FUZZY_CUTOFF = 86.0  # normalised Indel similarity (0-100): one slip in a 7-letter name is 92, two in 12 is 83
MAX_PHRASE_WORDS = 5
MAX_VALUE_CHARS = 80
_WORD = re.compile(r"[^\W_]+(?:['’.\-&/][^\W_]+)*", re.UNICODE)
_QUOTED = re.compile(r"[\"“'‘]([^\"”'’]{1,80})[\"”'’]")


def fold(text: str) -> str:
    """Case-, width- and accent-folded, inner whitespace collapsed: the form values are compared in.

    >>> fold("  Café  MÜNCHEN "), fold("Straße")
    ('cafe munchen', 'strasse')
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


@dataclass(frozen=True)
class ValueHit:
    """A stored value the question mentions: where it is stored, what the question said, how well."""

    table: str
    column: str
    value: str
    phrase: str
    score: float
    how: str  # exact | case | fuzzy | quoted
    start: int = 0  # the phrase's character span in the question
    end: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "value": self.value,
            "phrase": self.phrase,
            "score": round(self.score, 3),
            "how": self.how,
        }


@dataclass
class ValueIndex:
    """Folded value → the (table, column, stored value) triples that hold it, plus a length-bucketed
    list of folded values for fuzzy matching. `truncated` names the bound that cut reading short."""

    entries: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    truncated: str | None = None
    _by_length: dict[int, list[str]] = field(default_factory=dict, repr=False)
    _singular: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_values(cls, values: dict[tuple[str, str], Iterable[str]]) -> ValueIndex:
        index = cls()
        for (table, column), stored in values.items():
            for value in stored:
                index._add(table, column, value)
        return index

    @classmethod
    def build(
        cls,
        db: Any,
        schema: DatabaseSchema,
        *,
        per_column: int = 5_000,
        total: int = 200_000,
        progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    ) -> ValueIndex:
        """Distinct short values of each text column (at most `per_column` each, `total` in all),
        read read-only in the database's dialect; a column whose read fails is skipped."""
        index = cls()
        columns = [(t.name, c.name) for t in schema.tables for c in t.columns if c.kind in ("text", "key") and _texty(c.type, c.values)]
        taken = 0
        for table, column in progress(columns) if progress is not None else columns:
            if taken >= total:
                index.truncated = f"{total:,} values in all (linking.max_values)"
                break
            name = quote_identifier(column)
            sql = (
                f"SELECT DISTINCT {name} FROM {quote_identifier(table)} "
                f"WHERE {name} IS NOT NULL AND length({name}) <= {MAX_VALUE_CHARS} LIMIT {min(per_column, total - taken)}"
            )
            try:
                rows = db.execute(to_dialect(sql, db.dialect), max_rows=per_column).rows
            except SQLError:
                continue
            if len(rows) >= per_column:
                index.truncated = index.truncated or f"{per_column:,} distinct values per column (linking.values_per_column)"
            for (value,) in rows:
                if isinstance(value, str):
                    index._add(table, column, value)
                    taken += 1
        return index

    def _add(self, table: str, column: str, value: str) -> None:
        key = fold(value)
        if not key or len(key) > MAX_VALUE_CHARS or not any(ch.isalpha() for ch in key):
            return
        holders = self.entries.setdefault(key, [])
        if not holders:
            self._by_length.setdefault(len(key), []).append(key)
        if (table, column, value) not in holders:
            holders.append((table, column, value))
            plural = _singular_key(key)
            if plural != key:  # "documentaries" finds the stored "Documentary"
                self._singular.setdefault(plural, []).append((table, column, value))

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, question: str, *, fuzzy: bool = True, limit: int = 24) -> list[ValueHit]:
        """The stored values the question mentions, best first: quoted text, then the longest phrases
        (up to `MAX_PHRASE_WORDS` words) that match exactly, case-folded or, failing those, fuzzily.
        A phrase of stop words only, or one short word, never matches fuzzily."""
        hits: list[ValueHit] = []
        taken = [False] * len(question)
        for found in _QUOTED.finditer(question):
            key = fold(found.group(1))
            for table, column, value in self.entries.get(key, []):
                hits.append(ValueHit(table, column, value, found.group(1), 1.0, "quoted", found.start(1), found.end(1)))
            if key in self.entries:
                taken[found.start() : found.end()] = [True] * (found.end() - found.start())
        for number in numbers_in(question):  # "5 GB" is an amount, not the stored code 'GB'
            taken[number.start : number.end] = [True] * (number.end - number.start)
        words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(question)]
        for size in range(min(MAX_PHRASE_WORDS, len(words)), 0, -1):
            for i in range(len(words) - size + 1):
                start, end = words[i][1], words[i + size - 1][2]
                if any(taken[start:end]):
                    continue
                phrase = question[start:end]
                key = fold(phrase)
                letter = len(phrase) == 1 and phrase.isupper() and phrase not in ("A", "I")  # "rated R": a code
                if _stop_only(key) and not letter:
                    continue
                found_hits = self._exact(key, phrase, start, end)
                if letter:
                    found_hits = [h for h in found_hits if h.value == phrase]
                if not found_hits and fuzzy and len(key) >= 5 and not (size == 1 and key in STOP_WORDS):
                    found_hits = self._fuzzy(key, phrase, start, end)
                if found_hits:
                    hits.extend(found_hits)
                    taken[start:end] = [True] * (end - start)
        hits.sort(key=lambda h: (-h.score, h.start))
        return hits[:limit]

    def _exact(self, key: str, phrase: str, start: int, end: int) -> list[ValueHit]:
        holders = self.entries.get(key, [])
        if not holders and len(key) > 3:
            singular = _singular_key(key)
            holders = self.entries.get(singular, []) or self._singular.get(singular, [])
        out = []
        for table, column, value in holders:
            same = value == phrase
            # a one-word lower-case phrase matching a capitalised value is weaker evidence ("rock" the word)
            score = 1.0 if same else (0.9 if " " in key or not phrase.islower() else 0.8)
            out.append(ValueHit(table, column, value, phrase, score, "exact" if same else "case", start, end))
        return out

    def _fuzzy(self, key: str, phrase: str, start: int, end: int) -> list[ValueHit]:
        from rapidfuzz import fuzz, process

        span = max(1, len(key) // 6)
        choices = [v for n in range(len(key) - span, len(key) + span + 1) for v in self._by_length.get(n, ())]
        if not choices:
            return []
        best = process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=3)
        out = []
        for folded, score, _ in best:
            if folded[:1] != key[:1]:
                continue  # people misspell the middle of a name, rarely its first letter
            for table, column, value in self.entries[folded]:
                out.append(
                    ValueHit(table, column, value, phrase, 0.6 + 0.3 * (score - FUZZY_CUTOFF) / (100 - FUZZY_CUTOFF), "fuzzy", start, end)
                )
        return out


def _singular_key(key: str) -> str:
    """The folded value with its last word in the singular (plural and singular spellings meet)."""
    words = key.split(" ")
    return " ".join([*words[:-1], singular(words[-1])])


def _stop_only(key: str) -> bool:
    words = key.split()
    return all(w in STOP_WORDS or len(w) < 2 or w.isdigit() for w in words)


def _texty(declared: str, sampled: tuple[Any, ...]) -> bool:
    """A column worth indexing: sampled values are text (keys stored as codes count, integer ids do not)."""
    if sampled:
        return any(isinstance(v, str) for v in sampled)
    upper = declared.upper()
    return any(word in upper for word in ("CHAR", "TEXT", "CLOB", "STRING")) or not upper


# -- numbers with units ----------------------------------------------------------------------------

# unit word → (dimension, size in the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "ms": ("time", 0.001), "millisecond": ("time", 0.001), "milliseconds": ("time", 0.001), "millis": ("time", 0.001),
    "s": ("time", 1), "sec": ("time", 1), "secs": ("time", 1), "second": ("time", 1), "seconds": ("time", 1),
    "min": ("time", 60), "mins": ("time", 60), "minute": ("time", 60), "minutes": ("time", 60),
    "h": ("time", 3600), "hr": ("time", 3600), "hrs": ("time", 3600), "hour": ("time", 3600), "hours": ("time", 3600),
    "day": ("time", 86400), "days": ("time", 86400),
    "b": ("size", 1), "byte": ("size", 1), "bytes": ("size", 1),
    "kb": ("size", 1e3), "kilobyte": ("size", 1e3), "kilobytes": ("size", 1e3),
    "mb": ("size", 1e6), "megabyte": ("size", 1e6), "megabytes": ("size", 1e6),
    "gb": ("size", 1e9), "gigabyte": ("size", 1e9), "gigabytes": ("size", 1e9),
    "mm": ("length", 0.001), "cm": ("length", 0.01), "m": ("length", 1), "meter": ("length", 1), "meters": ("length", 1),
    "metre": ("length", 1), "metres": ("length", 1), "km": ("length", 1000), "kilometer": ("length", 1000),
    "kilometers": ("length", 1000), "kilometre": ("length", 1000), "kilometres": ("length", 1000), "mile": ("length", 1609.344), "miles": ("length", 1609.344),
    "g": ("mass", 0.001), "gram": ("mass", 0.001), "grams": ("mass", 0.001), "kg": ("mass", 1), "kilo": ("mass", 1), "kilos": ("mass", 1), "kilogram": ("mass", 1), "kilograms": ("mass", 1),
    "cent": ("money", 0.01), "cents": ("money", 0.01), "dollar": ("money", 1), "dollars": ("money", 1), "$": ("money", 1),
    "euro": ("money", 1), "euros": ("money", 1), "€": ("money", 1),
}  # fmt: skip
# the unit words a column's name may carry, beyond the unit names themselves
_COLUMN_UNITS: dict[str, tuple[str, float | None]] = {  # None: the kind is named, the unit is not ("duration")
    **{k: v for k, v in _UNITS.items() if len(k) > 1 and k not in ("min", "hr", "mm")},
    "msec": ("time", 0.001), "duration": ("time", None), "length": ("length", None), "size": ("size", None),
    "price": ("money", None), "cost": ("money", None), "amount": ("money", None), "total": ("money", None),
    "distance": ("length", None), "weight": ("mass", None),
}  # fmt: skip
_NUMBER = re.compile(r"(?P<pre>[$€])?\s?(?P<num>\d+(?:[.,]\d+)*)\s?(?P<unit>[A-Za-z$€]+)?(?![\w])")


@dataclass(frozen=True)
class NumberMention:
    """A number in the question, with the unit written after (or the currency sign before) it."""

    text: str
    value: float
    unit: str | None
    start: int
    end: int


@dataclass(frozen=True)
class UnitHit:
    """A number with a unit mapped to a column whose name carries a unit of the same kind."""

    table: str
    column: str
    said: str  # "5 minutes"
    value: float  # in the column's unit
    conversion: str  # "5 minutes = 300000 ms"

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "said": self.said, "value": self.value, "conversion": self.conversion}


def numbers_in(question: str) -> list[NumberMention]:
    """The numbers a question writes, each with its unit when one follows (or a currency sign leads).

    >>> [(n.value, n.unit) for n in numbers_in("tracks longer than 5 minutes and over 2.5 MB, under $10, in 2023")]
    [(5.0, 'minutes'), (2.5, 'mb'), (10.0, '$'), (2023.0, None)]
    """
    found = []
    for m in _NUMBER.finditer(question):
        raw = m.group("num")
        try:
            value = float(raw.replace(",", "")) if raw.count(",") and "." not in raw else float(raw)
        except ValueError:
            continue
        unit = m.group("pre") or (m.group("unit") or "").lower() or None
        end = m.end()
        if unit is not None and unit not in _UNITS:
            unit, end = None, m.end("num")  # "5 albums": the number alone
        start = m.start("pre") if m.group("pre") else m.start("num")
        found.append(NumberMention(question[start:end].strip(), value, unit, start, end))
    return found


# adjectives and verbs that ask about a quantity of one kind ("the longest track", "costs more than")
QUANTITY_WORDS: dict[str, tuple[str, ...]] = {
    "long": ("time", "length"), "longer": ("time", "length"), "longest": ("time", "length"),
    "short": ("time", "length"), "shorter": ("time", "length"), "shortest": ("time", "length"),
    "last": ("time",), "lasted": ("time",), "lasting": ("time",), "duration": ("time",),
    "far": ("length",), "farther": ("length",), "farthest": ("length",), "distance": ("length",),
    "heavy": ("mass",), "heavier": ("mass",), "heaviest": ("mass",), "light": ("mass",), "lighter": ("mass",),
    "lightest": ("mass",), "weigh": ("mass",), "weighs": ("mass",), "weight": ("mass",),
    "expensive": ("money",), "cheap": ("money",), "cheaper": ("money",), "cheapest": ("money",), "cost": ("money",),
    "costs": ("money",), "costly": ("money",), "price": ("money",), "pay": ("money",), "paid": ("money",),
    "big": ("size",), "bigger": ("size",), "biggest": ("size",), "large": ("size",), "larger": ("size",), "largest": ("size",),
}  # fmt: skip


def column_unit(words: list[str]) -> tuple[str, float | None] | None:
    """(kind of quantity, size of the column's unit in the kind's base unit, None when not named) that
    a column's lower-case name words say it holds: `duration_ms`, `weight_g`, `fare_cents`, `price`."""
    if len(words) >= 2 and words[-1] in _UNITS:  # a short unit only as the last of several words: weight_g, distance_m
        return _UNITS[words[-1]]
    return next((_COLUMN_UNITS[w] for w in reversed(words) if w in _COLUMN_UNITS), None)


def column_dimension(words: list[str]) -> str | None:
    """The kind of quantity a column's name says it holds (time, size, length, mass, money), if any."""
    unit = column_unit(words)
    return None if unit is None else unit[0]


def unit_hits(question: str, schema: DatabaseSchema, words_of: Callable[[str], list[str]]) -> list[UnitHit]:
    """Each number-with-unit mapped to the numeric columns of the same kind, converted to the
    column's unit when its name says it ("milliseconds", "size_bytes"), else kept as said.

    `words_of` splits a column name into lower-case words (the linker's identifier splitter)."""
    hits = []
    for mention in numbers_in(question):
        if mention.unit is None:
            continue
        dimension, size = _UNITS[mention.unit]
        for table in schema.tables:
            for column in table.columns:
                if column.kind != "number":
                    continue
                unit = column_unit(words_of(column.name))
                if unit is None or unit[0] != dimension:
                    continue
                column_size = unit[1]
                if column_size is None:
                    value, conversion = mention.value, f"{mention.text} (the column's unit is not named; used as said)"
                else:
                    value = mention.value * size / column_size
                    value = round(value, 6)
                    shown = int(value) if value == int(value) else value
                    conversion = f"{mention.text} = {shown} {column.name}"
                hits.append(UnitHit(table.name, column.name, mention.text, value, conversion))
    return hits
