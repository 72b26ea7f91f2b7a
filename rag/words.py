"""English for schema names and values: what questions call a table, a column and a value.

Questions are built from the database's own names, so the names must read as words:
identifiers are split (snake_case, camelCase, digits), common abbreviations expanded, the last
word inflected for singular and plural, and values quoted the way people type them.

>>> words("customerID"), words("Order Details"), words("tbl_HTTPStatus2")
(['customer', 'ID'], ['order', 'details'], ['HTTP', 'status', '2'])
>>> noun("order_items"), noun("people"), noun("Category")
(Noun(singular='order item', plural='order items'), Noun(singular='person', plural='people'), Noun(singular='category', plural='categories'))
>>> column_phrase("customer_name", table_singular="customer"), column_phrase("author_id", table_singular="book")
('name', 'author ID')
>>> listing(["name", "city", "country"]), article("order")
('name, city and country', 'an order')
"""

from __future__ import annotations

import functools
import math
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

_ABBREVIATIONS = {
    "id": "ID",
    "ids": "IDs",
    "qty": "quantity",
    "amt": "amount",
    "num": "number",
    "nbr": "number",
    "dob": "date of birth",
    "desc": "description",
    "addr": "address",
    "tel": "telephone",
    "cnt": "count",
    "pct": "percent",
    "dept": "department",
    "mgr": "manager",
    "yr": "year",
    "dt": "date",
    "ts": "timestamp",
    "lat": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "url": "URL",
    "sku": "SKU",
    "isbn": "ISBN",
    "ip": "IP",
    "uuid": "UUID",
    "ssn": "SSN",
    "api": "API",
    "vat": "VAT",
    "usd": "USD",
    "eur": "EUR",
}
_TABLE_PREFIXES = ("tbl", "tb")
_IRREGULAR_PLURALS = {
    "person": "people",
    "child": "children",
    "man": "men",
    "woman": "women",
    "foot": "feet",
    "tooth": "teeth",
    "mouse": "mice",
    "goose": "geese",
    "criterion": "criteria",
    "analysis": "analyses",
    "medium": "media",
    "leaf": "leaves",
    "life": "lives",
    "wife": "wives",
    "knife": "knives",
    "half": "halves",
    "shelf": "shelves",
    "wolf": "wolves",
    "thesis": "theses",
    "crisis": "crises",
    "diagnosis": "diagnoses",
    "bus": "buses",
    "status": "statuses",
    "campus": "campuses",
    "bonus": "bonuses",
    "virus": "viruses",
    "census": "censuses",
    "quiz": "quizzes",
    "movie": "movies",
}
_IRREGULAR_SINGULARS = {plural: singular for singular, plural in _IRREGULAR_PLURALS.items()}
_UNCOUNTABLE = frozenset(
    {
        "data",
        "metadata",
        "staff",
        "personnel",
        "information",
        "equipment",
        "news",
        "series",
        "species",
        "software",
        "hardware",
        "feedback",
        "music",
        "money",
        "inventory",
        "stock",
        "research",
        "media",
        "info",
        "aircraft",
        "fish",
        "sheep",
        "deer",
        "luggage",
        "baggage",
        "furniture",
        "mail",
    }
)
_ALREADY_SINGULAR_ENDINGS = ("ss", "us", "is", "ics")
_IES_EXCEPTIONS = frozenset({"movies", "cookies", "calories", "zombies", "pies", "ties", "lies", "species", "series"})
_VOWEL_SOUND = re.compile(r"^(?:[aeio]|u(?!ni|se|su|ti|ro|ra)|hour|honest)", re.IGNORECASE)
_VOWEL_ACRONYM = re.compile(r"^[AEFHILMNORSX](?:[A-Z\d]|\b)")  # 'an ID', 'an SKU', 'an MRI'
QUOTE_STYLES = ("'", '"', "")
_DIGITS = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


@dataclass(frozen=True)
class Noun:
    """What questions call a table's rows: 'order item' / 'order items'."""

    singular: str
    plural: str


def words(name: str) -> list[str]:
    """An identifier split into lower-case words; acronyms and abbreviations as people write them."""
    return list(_words(name))


@functools.lru_cache(maxsize=65536)
def _words(name: str) -> tuple[str, ...]:
    parts = []
    for part in split_identifier(re.sub(r"['’]", "", name)):
        lower = part.lower()
        if lower in _ABBREVIATIONS:
            parts.extend(_ABBREVIATIONS[lower].split())
        elif part.isupper() and len(part) > 1 and part.isalpha():
            parts.append(part)  # an acronym: HTTP, GDP
        else:
            parts.append(lower)
    if len(parts) > 1 and parts[0].lower() in _TABLE_PREFIXES:
        parts = parts[1:]
    return tuple(parts or [name])


def split_identifier(name: str) -> list[str]:
    """The words of an identifier as written: snake_case, camelCase, PascalCase, kebab-case, spaces, digits.

    >>> split_identifier("appt_date"), split_identifier("firstName"), split_identifier("HTTPStatusCode")
    (['appt', 'date'], ['first', 'Name'], ['HTTP', 'Status', 'Code'])
    >>> split_identifier("Order Details"), split_identifier("address2"), split_identifier("prix_café")
    (['Order', 'Details'], ['address', '2'], ['prix', 'café'])
    """
    found: list[str] = []
    for piece in re.findall(r"[^\W_]+", name):
        for part in _split_case(piece):
            found.extend(w for w in _DIGITS.split(part) if w)
    return found


def _split_case(piece: str) -> list[str]:
    """`piece` cut where a lower-case letter meets an upper-case one, or an acronym meets a word."""
    parts: list[str] = []
    current = ""
    for i, char in enumerate(piece):
        prev = piece[i - 1] if i else ""
        nxt = piece[i + 1] if i + 1 < len(piece) else ""
        if current and char.isupper() and (prev.islower() or (prev.isupper() and nxt.islower())):
            parts.append(current)
            current = ""
        current += char
    parts.append(current)
    return parts


def normalize_word(word: str) -> str:
    """Case- and width-folded, then singular: the form words are compared in.

    >>> [normalize_word(w) for w in ["Categories", "boxes", "status", "People", "Straße", "analyses", "class"]]
    ['category', 'box', 'status', 'person', 'strasse', 'analysis', 'class']
    """
    return singular(unicodedata.normalize("NFKC", word).casefold())


def stem(word: str) -> str:
    """A word's singular, lower case, cut to six letters: 'Categories' → 'catego'; close forms of
    one name ('categorised', 'category') meet."""
    return singular(word.lower())[:6]


def same_number(a: str, b: str) -> bool:
    """Whether two numbers as written are the same number ('5', '5.0'); text that is no number is not."""
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return False


def plural(word: str) -> str:
    """The plural of one English word (already plural or uncountable words stay as they are)."""
    lower = word.lower()
    if lower in _UNCOUNTABLE or lower in _IRREGULAR_SINGULARS or not word.isalpha() or word.isupper():
        return word + ("s" if word.isupper() and len(word) > 1 and not word.endswith("S") else "")
    if lower in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[lower]
    if singular(word) != word or (lower.endswith("ed") and not lower.endswith("eed") and len(lower) > 4):
        return word  # already plural, or a participle ('founded') that has no plural
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def singular(word: str) -> str:
    """The singular of one English word (already singular words stay as they are)."""
    lower = word.lower()
    if lower in _UNCOUNTABLE or lower in _IRREGULAR_PLURALS or not word.isalpha() or len(word) < 3 or word.isupper():
        return word
    if lower in _IRREGULAR_SINGULARS:
        return _IRREGULAR_SINGULARS[lower]
    if lower.endswith(_ALREADY_SINGULAR_ENDINGS) or not lower.endswith("s"):
        return word
    if lower.endswith("ies") and lower not in _IES_EXCEPTIONS:
        return word[:-3] + "y"
    if lower.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    return word[:-1]


def _inflect_last(parts: list[str], inflect: Any) -> str:
    return " ".join([*parts[:-1], inflect(parts[-1])])


@functools.lru_cache(maxsize=16384)
def noun(table: str) -> Noun:
    """What a table's rows are called, from the table's name."""
    parts = words(table)
    one = _inflect_last(parts, singular)
    return Noun(singular=one, plural=_inflect_last(one.split(), plural))


def column_phrase(column: str, *, table_singular: str = "") -> str:
    """A column's name as a noun phrase, without a leading copy of its table's name
    ('customer_name' in customers reads 'name'); a bare key stays 'ID'."""
    parts = words(column)
    prefix = table_singular.split()
    if prefix and len(parts) > len(prefix) and [p.lower() for p in parts[: len(prefix)]] == [p.lower() for p in prefix]:
        parts = parts[len(prefix) :]
    return " ".join(parts)


def phrase_plural(phrase: str) -> str:
    """'first name' → 'first names', 'city' → 'cities'."""
    parts = phrase.split()
    return _inflect_last(parts, plural) if parts else phrase


def possessive(phrase: str) -> str:
    """ "customer's", "customers'"."""
    return phrase + ("'" if phrase.endswith("s") else "'s")


def article(phrase: str) -> str:
    """'a customer', 'an order', 'an ID'."""
    return ("an " if _VOWEL_SOUND.match(phrase) or _VOWEL_ACRONYM.match(phrase) else "a ") + phrase


def listing(items: list[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def count_word(n: int, rng: random.Random) -> str:
    """A small number as a digit or, sometimes, a word ('5' or 'five')."""
    return _NUMBER_WORDS[n] if n in _NUMBER_WORDS and rng.random() < 0.35 else str(n)


def format_number(value: float | int) -> str:
    """A number as people write it: no trailing '.0', at most a few decimals."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}" if abs(value) >= 1e-4 else repr(value)


def quote_style(rng: random.Random) -> str:
    """How one question quotes its text values: single quotes, double quotes, or bare."""
    return rng.choices(QUOTE_STYLES, weights=(5, 2, 4))[0]


def quote_value(value: Any, style: str) -> str:
    """A value as a question mentions it: numbers bare, text in `style` quotes (bare only when
    it is one plain word or a date, so the value's ends stay clear).

    >>> print(quote_value("Lima", ""), quote_value("New York", ""), quote_value(12.5, "'"), quote_value('say "hi"', '"'))
    Lima 'New York' 12.5 'say "hi"'
    """
    if isinstance(value, (int, float)):
        return format_number(value)
    text = str(value)
    if not style and re.fullmatch(r"[\w-]+|\d{4}-\d{2}-\d{2}", text):
        return text
    quote = style or "'"
    if quote in text:
        quote = "'" if quote == '"' else '"'
    return f"{quote}{text}{quote}"


def capitalize(question: str) -> str:
    """First letter upper case, the rest untouched (names and quoted values keep their case)."""
    return question[:1].upper() + question[1:] if question else question
