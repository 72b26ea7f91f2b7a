"""The operator words that give a question its shape (rag.compose): how many, average, total, highest,
top 5, per / each / by, more than, in 2023; and where they sit in the question."""

from __future__ import annotations

import re

from rag.linked import Link

COUNT = re.compile(r"\b(how many|number of|count of|count the)\b", re.IGNORECASE)
AGGREGATES = [
    ("AVG", re.compile(r"\b(average|mean|avg)\b", re.IGNORECASE)),
    ("SUM", re.compile(r"\b(total|sum|overall|combined|in all)\b", re.IGNORECASE)),
    (
        "MAX",
        re.compile(r"\b(maximum|max|highest|largest|biggest|greatest|longest|most expensive|latest|newest|oldest birth)\b", re.IGNORECASE),
    ),
    ("MIN", re.compile(r"\b(minimum|min|lowest|smallest|shortest|cheapest|least expensive|earliest)\b", re.IGNORECASE)),
]
TOP = re.compile(
    r"\b(?:top|first|best|leading)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\b|\b(\d+|two|three|four|five|ten)\s+(?:most|highest|largest|biggest|best|top)\b",
    re.IGNORECASE,
)
_WHICH_N = re.compile(r"\b(?:which|what|the|list|show)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+[^\W\d]", re.IGNORECASE)
MOST = re.compile(r"\b(most|highest|largest|biggest|greatest|longest|maximum|best)\b", re.IGNORECASE)
LEAST = re.compile(r"\b(least|fewest|lowest|smallest|shortest|minimum|cheapest|worst)\b", re.IGNORECASE)
GROUPING = re.compile(
    r"\b(?:per|each|every|by|for each|for every|in each|broken down by|grouped by|across)\s+((?:[^\W\d_]+)(?:\s+[^\W\d_]+){0,2}?(?:\s*(?:and|&|,)\s*[^\W\d_]+(?:\s+[^\W\d_]+){0,2}?)*)(?=\s*(?:[?.!,;]|$|\b(?:have|has|had|is|are|was|were|do|does|did|in|on|with|for|from|that|who|which)\b))",
    re.IGNORECASE,
)
_COMPARE = [
    (">=", re.compile(r"\b(at least|no less than|(?:greater|more|higher|larger|longer|bigger) than or equal to)\s*$", re.IGNORECASE)),
    ("<=", re.compile(r"\b(at most|no more than|up to)\s*$", re.IGNORECASE)),
    (
        ">",
        re.compile(
            r"\b(more than|greater than|over|above|longer than|bigger than|larger than|higher than|exceeds?|exceeding|after)\s*$",
            re.IGNORECASE,
        ),
    ),
    ("<", re.compile(r"\b(less than|fewer than|under|below|shorter than|smaller than|lower than|before)\s*$", re.IGNORECASE)),
]
YEAR = re.compile(r"\b(?:in|during|of|for|since|before|after)\s+((?:19|20)\d\d)\b", re.IGNORECASE)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\s*$",
    re.IGNORECASE,
)
SALES = re.compile(r"\b(sales|revenue|sold|spent|spend|spending|earned|earnings|income)\b", re.IGNORECASE)
DISTINCT = re.compile(r"\b(different|distinct|unique|kinds? of|types? of|which \w+s of)\b", re.IGNORECASE)
_LIST = re.compile(r"^\s*(list|show|give|name|what are|which|who)\b", re.IGNORECASE)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def word_starts(link: Link) -> list[int]:
    starts, at = [], 0
    for word in link.reading.words:
        at = link.reading.text.find(word, at)
        starts.append(at)
        at += len(word)
    return starts


def word_offset(text: str, words: tuple[str, ...], index: int) -> int:
    at = 0
    for i, word in enumerate(words):
        at = text.find(word, at)
        if i == index:
            return at
        at += len(word)
    return at


def comparison_operator(text: str, start: int) -> str | None:
    before = text[max(0, start - 40) : start].rstrip(" $€")
    for op, pattern in _COMPARE:
        if pattern.search(before):
            return op
    return None


def top_count(text: str) -> int | None:
    m = TOP.search(text)
    if not m:
        m = _WHICH_N.search(text) if (MOST.search(text) or LEAST.search(text)) else None
        if not m:
            return None
    word = next(g for g in m.groups() if g).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word)


def asks_for_a_row(link: Link, focus: str) -> bool:
    """ "the longest track", "the most expensive film": a superlative followed by the focus's noun asks
    for that row, where "the longest duration" asks for the value."""
    stems = link.reading.stems
    words = [w.lower() for w in link.reading.words]
    own = set(link.words_of(focus))
    for i, word in enumerate(words):
        superlative = (
            MOST.fullmatch(word) or LEAST.fullmatch(word) or word in ("expensive", "cheapest", "oldest", "newest", "latest", "earliest")
        )
        if superlative and any(s in own for s in stems[i + 1 : i + 3]):
            return True
    return False
