"""Conditions and questions in words, with varied wording chosen by a seeded random generator.

A condition can be said after a plural noun (`post`: "customers *whose city is 'Lima'*",
"*with a price above 50*", "*where status = shipped*", "*that have no email*") or as a
predicate (`pred`: "Which customers *have city 'Lima'*?"). Several phrasings per operator and
style; two conditions joined share one style and drop the repeated lead word ("whose city is
'Lima' and age is over 30"). `questions` fills a shape's question templates, each with fresh
draws, so one example gets differently worded questions.

>>> import random
>>> from rag.schema import Column
>>> city = Column("city", "TEXT", False, True, "text", ("Lima",))
>>> from synth.grounded.conditions import Condition
>>> post(Condition("eq", city, "city", ("Lima",)), random.Random(1))[1]
'with city equal to Lima'
>>> pred(Condition("null", city, "city"), random.Random(2), singular=True)
'has no city'

"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Mapping, Sequence

from rag.words import (
    article,
    capitalize,
    listing,
    quote_style,
    quote_value,
    singular,
)
from synth.grounded.conditions import Condition

# A template's slot values: a fixed word, or a callable drawn afresh for each question; shapes fill them in
Slots = dict[str, "str | Callable[[], str]"]
STYLES = ("whose", "with", "where", "that")

_POST: dict[str, dict[str, list[str]]] = {
    "eq": {
        "whose": ["whose {c} is {v}", "whose {c} equals {v}"],
        "with": ["with {c} {v}", "with {a_c} of {v}", "with {c} equal to {v}"],
        "where": ["where {c} is {v}", "where the {c} is {v}", "where {c} = {v}"],
    },
    "neq": {
        "whose": ["whose {c} is not {v}", "whose {c} isn't {v}"],
        "with": ["with {a_c} other than {v}", "with {c} different from {v}"],
        "where": ["where {c} is not {v}", "where {c} != {v}"],
    },
    "in": {
        "whose": ["whose {c} is {vs_or}", "whose {c} is one of {vs_and}"],
        "with": ["with {c} {vs_or}", "with {a_c} of {vs_or}"],
        "where": ["where {c} is {vs_or}", "where {c} is any of {vs_and}"],
    },
    "gt": {
        "whose": [
            "whose {c} is greater than {v}",
            "whose {c} is above {v}",
            "whose {c} exceeds {v}",
            "whose {c} is more than {v}",
            "whose {c} is over {v}",
        ],
        "with": [
            "with {c} greater than {v}",
            "with {a_c} above {v}",
            "with {c} over {v}",
            "with {a_c} of more than {v}",
            "with {c} higher than {v}",
        ],
        "where": ["where {c} > {v}", "where the {c} is higher than {v}", "where {c} is bigger than {v}"],
    },
    "lt": {
        "whose": ["whose {c} is less than {v}", "whose {c} is below {v}", "whose {c} is under {v}", "whose {c} is lower than {v}"],
        "with": ["with {c} less than {v}", "with {a_c} below {v}", "with {c} under {v}", "with {a_c} of less than {v}"],
        "where": ["where {c} < {v}", "where the {c} is smaller than {v}"],
    },
    "gte": {
        "whose": ["whose {c} is at least {v}", "whose {c} is {v} or more"],
        "with": ["with {c} of at least {v}", "with {a_c} of {v} or more", "with {c} no less than {v}"],
        "where": ["where {c} >= {v}", "where {c} is at least {v}"],
    },
    "lte": {
        "whose": ["whose {c} is at most {v}", "whose {c} is {v} or less"],
        "with": ["with {c} of at most {v}", "with {a_c} of {v} or less", "with {c} no more than {v}"],
        "where": ["where {c} <= {v}", "where {c} is at most {v}"],
    },
    "between": {
        "whose": ["whose {c} is between {a} and {b}", "whose {c} is from {a} to {b}"],
        "with": ["with {c} between {a} and {b}", "with {a_c} from {a} to {b}", "with {a_c} in the range {a} to {b}"],
        "where": ["where {c} is between {a} and {b}", "where {c} is in the range {a}-{b}"],
    },
    "gt_date": {
        "whose": ["whose {c} is after {v}", "whose {c} is later than {v}"],
        "with": ["with {a_c} after {v}", "with {c} later than {v}"],
        "where": ["where {c} is after {v}", "where {c} > {v}"],
    },
    "lt_date": {
        "whose": ["whose {c} is before {v}", "whose {c} is earlier than {v}"],
        "with": ["with {a_c} before {v}", "with {c} earlier than {v}"],
        "where": ["where {c} is before {v}", "where {c} < {v}"],
    },
    "gte_date": {
        "whose": ["whose {c} is on or after {v}", "whose {c} is {v} or later"],
        "with": ["with {c} on or after {v}", "with {a_c} from {v} onwards"],
        "where": ["where {c} >= {v}", "where {c} is not before {v}"],
    },
    "lte_date": {
        "whose": ["whose {c} is on or before {v}", "whose {c} is {v} or earlier"],
        "with": ["with {c} on or before {v}", "with {a_c} up to {v}"],
        "where": ["where {c} <= {v}", "where {c} is not after {v}"],
    },
    "between_date": {
        "whose": ["whose {c} is between {a} and {b}", "whose {c} falls between {a} and {b}"],
        "with": ["with {c} between {a} and {b}", "with {a_c} from {a} to {b}"],
        "where": ["where {c} is between {a} and {b}"],
    },
    "year": {
        "whose": ["whose {c} is in {v}", "whose {c} falls in {v}"],
        "with": ["with {c} in {v}", "with {a_c} in the year {v}", "with {a_c} during {v}"],
        "where": ["where {c} is in {v}", "where the year of {c} is {v}"],
    },
    "contains": {
        "whose": ["whose {c} contains {v}", "whose {c} includes {v}", "whose {c} has {v} in it"],
        "with": ["with {v} in their {c}", "with {a_c} containing {v}"],
        "where": ["where {c} contains {v}", "where {c} includes the word {v}"],
    },
    "prefix": {
        "whose": ["whose {c} starts with {v}", "whose {c} begins with {v}"],
        "with": ["with {a_c} starting with {v}", "with {a_c} beginning with {v}"],
        "where": ["where {c} starts with {v}", "where {c} begins with {v}"],
    },
    "suffix": {
        "whose": ["whose {c} ends with {v}", "whose {c} ends in {v}"],
        "with": ["with {a_c} ending in {v}", "with {a_c} ending with {v}"],
        "where": ["where {c} ends with {v}"],
    },
    "null": {
        "whose": ["whose {c} is missing", "whose {c} is not recorded", "whose {c} is empty", "whose {c} is null"],
        "with": ["with no {c}", "without {a_c}", "with a missing {c}"],
        "where": ["where {c} is null", "where {c} is not set", "where there is no {c}"],
    },
    "not_null": {
        "whose": ["whose {c} is known", "whose {c} is filled in", "whose {c} is not null"],
        "with": ["with {a_c}", "with {a_c} recorded", "with a known {c}"],
        "where": ["where {c} is not null", "where {c} is set"],
    },
}
_PRED: dict[str, list[str]] = {
    "eq": ["have {c} {v}", "have {a_c} of {v}", "have {v} as their {c}"],
    "neq": ["do not have {c} {v}", "have {a_c} other than {v}"],
    "in": ["have {c} {vs_or}", "have {a_c} of {vs_or}"],
    "gt": ["have {a_c} greater than {v}", "have {c} above {v}", "have {a_c} of more than {v}", "have {c} exceeding {v}"],
    "lt": ["have {a_c} less than {v}", "have {c} below {v}", "have {a_c} lower than {v}"],
    "gte": ["have {a_c} of at least {v}", "have {c} of {v} or more"],
    "lte": ["have {a_c} of at most {v}", "have {c} of {v} or less"],
    "between": ["have {a_c} between {a} and {b}", "have {c} from {a} to {b}"],
    "gt_date": ["have {a_c} after {v}", "have {c} later than {v}"],
    "lt_date": ["have {a_c} before {v}", "have {c} earlier than {v}"],
    "gte_date": ["have {a_c} on or after {v}", "have {c} of {v} or later"],
    "lte_date": ["have {a_c} on or before {v}", "have {c} of {v} or earlier"],
    "between_date": ["have {a_c} between {a} and {b}", "have {c} from {a} to {b}"],
    "year": ["have {a_c} in {v}", "have {c} in the year {v}"],
    "contains": ["have {v} in their {c}", "have {a_c} containing {v}", "mention {v} in their {c}"],
    "prefix": ["have {a_c} starting with {v}", "have {a_c} that begins with {v}"],
    "suffix": ["have {a_c} ending in {v}", "have {a_c} that ends with {v}"],
    "null": ["have no {c}", "do not have {a_c}", "lack {a_c}", "are missing {a_c}"],
    "not_null": ["have {a_c}", "have {a_c} recorded", "have a known {c}"],
}
# boolean columns: 'is_active' is said as a state, 'has_discount' as a possession, others as a flag
_FLAG_POST = {
    ("be", True): ["that are {w}", "which are {w}"],
    ("be", False): ["that are not {w}", "which are not {w}"],
    ("have", True): ["with {w}", "that have {w}"],
    ("have", False): ["without {w}", "that do not have {w}"],
    ("flag", True): ["where {c} is true", "with {c} set", "whose {c} flag is set"],
    ("flag", False): ["where {c} is false", "with {c} not set", "whose {c} flag is not set"],
}
_FLAG_PRED = {
    ("be", True): ["are {w}"],
    ("be", False): ["are not {w}"],
    ("have", True): ["have {w}"],
    ("have", False): ["do not have {w}"],
    ("flag", True): ["have {c} set", "have {c} set to true"],
    ("flag", False): ["do not have {c} set", "have {c} set to false"],
}
_SINGULAR_VERBS = (
    (r"\bhave\b", "has"),
    (r"\bare\b", "is"),
    (r"\bdo not\b", "does not"),
    (r"\black\b", "lacks"),
    (r"\bmention\b", "mentions"),
    (r"\btheir\b", "its"),
)
_FORMATTER = string.Formatter()

AGGREGATE_WORDS = {
    "avg": ["average", "mean"],
    "sum": ["total", "combined"],
    "max": ["highest", "maximum", "largest"],
    "min": ["lowest", "minimum", "smallest"],
}
DATE_EXTREMES = {"max": ["latest", "most recent"], "min": ["earliest", "first"]}
MOST = {False: ["highest", "largest", "greatest", "biggest"], True: ["lowest", "smallest"]}
MOST_DATE = {False: ["most recent", "latest", "newest"], True: ["earliest", "oldest"]}


def singular_verbs(template: str) -> str:
    """A plural predicate made singular: 'have a price' → 'has a price', 'are active' → 'is active'."""
    for pattern, replacement in _SINGULAR_VERBS:
        template = re.sub(pattern, replacement, template)
    return template


def _key(cond: Condition) -> str:
    dated = f"{cond.op}_date"
    return dated if cond.is_date and dated in _POST else cond.op


def _flag(cond: Condition) -> tuple[str, str]:
    parts = cond.phrase.split()
    if len(parts) > 1 and parts[0].lower() in ("is", "was", "are"):
        return "be", " ".join(parts[1:])
    if len(parts) > 1 and parts[0].lower() in ("has", "have", "had"):
        return "have", " ".join(parts[1:])
    if parts[-1].lower().endswith("ed") or parts[-1].lower() in ("active", "available", "open", "public", "visible"):
        return "be", cond.phrase
    return "flag", cond.phrase


def _fill(cond: Condition, template: str, rng: random.Random) -> str:
    style = quote_style(rng)
    quoted = [_quote(cond, v, style) for v in cond.values]
    c = cond.phrase
    is_plural_phrase = singular(c.split()[-1]) != c.split()[-1] if c else False
    slots = {
        "c": c,
        "a_c": c if is_plural_phrase else article(c),
        "v": quoted[0] if quoted else "",
        "a": quoted[0] if quoted else "",
        "b": quoted[1] if len(quoted) > 1 else "",
        "vs_or": listing(quoted, "or"),
        "vs_and": listing(quoted, "and"),
        "w": _flag(cond)[1] if cond.op in ("true", "false") else "",
    }
    return template.format_map(slots)


def _quote(cond: Condition, value: object, style: str) -> str:
    if cond.op in ("contains", "prefix", "suffix"):
        return quote_value(value, style or "'")  # a fragment of a word needs its ends shown
    if cond.op == "year":
        return str(value)
    return quote_value(value, style)


def post(cond: Condition, rng: random.Random, *, singular: bool = False, style: str | None = None) -> tuple[str, str]:
    """The condition after a noun, in `style` (or a random one): ('with', "with city 'Lima'")."""
    if cond.op in ("true", "false"):
        templates = _FLAG_POST[(_flag(cond)[0], cond.op == "true")]
        chosen_style = "flag"
    else:
        by_style = _POST[_key(cond)]
        chosen_style = style if style in by_style or style == "that" else rng.choice(STYLES)
        if chosen_style == "that":
            return "that", "that " + pred(cond, rng, singular=singular)
        templates = by_style[chosen_style]
    template = rng.choice(templates)
    return chosen_style, _fill(cond, singular_verbs(template) if singular else template, rng)


def pred(cond: Condition, rng: random.Random, *, singular: bool = False) -> str:
    """The condition as a predicate of a plural (or singular) subject: "have a price above 50"."""
    if cond.op in ("true", "false"):
        templates = _FLAG_PRED[(_flag(cond)[0], cond.op == "true")]
    else:
        templates = _PRED[_key(cond)]
    template = rng.choice(templates)
    return _fill(cond, singular_verbs(template) if singular else template, rng)


def post_pair(first: Condition, second: Condition, rng: random.Random, conjunction: str = "and", *, singular: bool = False) -> str:
    """Two conditions after a noun, in one style, the second's lead word usually dropped."""
    style, a = post(first, rng, singular=singular)
    _, b = post(second, rng, singular=singular, style=style)
    lead = a.split()[0]
    if b.split()[0] == lead and lead != "that" and rng.random() < 0.7:
        b = b[len(lead) :].lstrip()
    return f"{a} {conjunction} {b}"


def pred_pair(first: Condition, second: Condition, rng: random.Random, conjunction: str = "and", *, singular: bool = False) -> str:
    """Two predicates joined: "have city 'Lima' and a price above 50"."""
    a, b = pred(first, rng, singular=singular), pred(second, rng, singular=singular)
    verb = a.split()[0]
    if b.split()[0] == verb and verb in ("have", "has") and rng.random() < 0.6:
        b = b[len(verb) :].lstrip()
    return f"{a} {conjunction} {b}"


def finish(text: str) -> str:
    """One space between words, first letter upper case, a question mark or full stop at the end."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([?.,])", r"\1", text)
    if text and text[-1] not in "?.!":
        text += "?"
    return capitalize(text)


def _said(value: str | Callable[[], str]) -> str:
    return value() if callable(value) else value


def questions(rng: random.Random, templates: Sequence[str], slots: Mapping[str, str | Callable[[], str]], count: int = 3) -> list[str]:
    """Up to `count` distinct questions from differently chosen templates; slot values that are
    callables are drawn afresh for each question (another phrasing, another quoting)."""
    chosen = rng.sample(list(templates), min(count, len(templates)))
    out: list[str] = []
    for template in chosen:
        fields = dict.fromkeys(name for _, name, _, _ in _FORMATTER.parse(template) if name)  # in order: draws stay seeded
        values = {name: _said(slots[name]) for name in fields}
        text = finish(template.format_map(values))
        if text.lower() not in {q.lower() for q in out}:
            out.append(text)
    return out
