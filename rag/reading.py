"""A question read once (rag.linking reads it, rag.compose builds from it): its words as typed, their
stems, the numbers with units; and the words that ask for an operation or wrap the data, which no
table, column or value has to account for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.masking import STOP_WORDS
from rag.values import NumberMention, numbers_in
from rag.words import normalize_word, split_identifier

__all__ = ["IGNORED_WORDS", "OPERATOR_WORDS", "VERB_WORDS", "Reading", "name_stems"]

WORD = re.compile(r"[^\W_]+", re.UNICODE)
# words that ask for an operation rather than name data: accounted for by the SQL's shape
OPERATOR_WORDS = frozenset(
    """how many much count number total sum average mean avg max maximum min minimum highest lowest largest
    smallest biggest greatest most least fewest top bottom first last more less greater fewer over under above below
    between each per every list show name names title titles which what who whom whose where when than at
    longest shortest earliest latest oldest newest cheapest expensive sort sorted order ordered ascending
    descending distinct different unique all any give find tell return get display there exist exists
    do does did have has had is are was were be been by for of in on with without not no and or the a an
    their its it they them this that these those from to into after before since until during year years month
    months day days date dates time times ever never also only same other than equal equals exactly least
    long longer short shorter big bigger small smaller high higher low lower recent recently old older new newer
    value values amount amounts record records entry entries row rows item items data information please""".split()
)
# common verbs and adverbs a question wraps its data in ("live in", "came out", "were paid with")
VERB_WORDS = frozenset(
    """live lives lived living come comes came coming go goes went gone going take takes took taken run runs ran
    running give gives gave given make makes made get gets got use uses used using start starts started
    begin begins began begun end ends ended pay pays paid buy buys bought sell sells sold place places placed
    belong belongs contain contains include includes hold holds held work works worked join joins joined
    appear appears appeared operate operates operated happen happens happened see saw seen watch watched
    know known want wanted need needed keep kept put say said tell told look looks looked find found
    now currently right ever yet still ago already today's""".split()
)
# words no table, column or value has to account for
IGNORED_WORDS = STOP_WORDS | OPERATOR_WORDS | VERB_WORDS


def phrase_stems(text: str) -> tuple[str, ...]:
    """The compared forms of a phrase's words, as the question's stems are read ("in repair" → in, repair)."""
    return tuple(normalize_word(w) for w in WORD.findall(text))


def name_stems(name: str) -> tuple[str, ...]:
    """The compared forms of an identifier's words.

    >>> name_stems("InvoiceLines"), name_stems("order_details"), name_stems("Genres")
    (('invoice', 'line'), ('order', 'detail'), ('genre',))
    """
    return tuple(normalize_word(w) for w in split_identifier(name))


@dataclass(frozen=True)
class Reading:
    """A question read once: its words as typed, their stems, the content stems (not stop words)
    and the numbers (with units)."""

    text: str
    words: tuple[str, ...]
    stems: tuple[str, ...]
    numbers: tuple[NumberMention, ...]

    @classmethod
    def read(cls, text: str) -> Reading:
        words = tuple(WORD.findall(text))
        return cls(
            text=text,
            words=words,
            stems=tuple(normalize_word(w) for w in words),
            numbers=tuple(numbers_in(text)),
        )

    @property
    def content(self) -> tuple[str, ...]:
        """Stems that can name data: not stop or operator words, not numbers."""
        return tuple(
            s
            for s, w in zip(self.stems, self.words)
            if not {s, w.lower()} & (STOP_WORDS | OPERATOR_WORDS | VERB_WORDS)
            and not any(ch.isdigit() for ch in s)
            and (len(s) > 1 or (w.isupper() and w not in ("A", "I")))
            and not (w.lower().endswith("ed") and len(w) > 4)  # "issued", "lasted": verbs, unless a name or value claims them
        )

    def position(self, stems: tuple[str, ...]) -> int | None:
        """The index of the first question word among `stems` (where the question mentions it)."""
        return next((i for i, s in enumerate(self.stems) if s in stems), None)
