"""When retrieval alone (knn) should not answer: evidence that the closest example is the right one.

Similarity alone separates right from wrong answers poorly (a stored question can be close in
words and differ in one value or one column), so the confidence combines four signals:

- `similarity`   cosine of the closest example;
- `margin`       how far it is ahead of the closest example with *different* SQL (paraphrases of
                 the same query agree rather than compete);
- `sql_literals` the share of the example SQL's literal values (strings, numbers) that the question
                 mentions: an example about 'Paris' does not answer a question about Berlin;
- `question_literals` the share of the question's numbers and quoted values that the SQL uses;
- `sql_words`    the share of the schema words the SQL reads (its table and column names, split at
                 `_` and camelCase, singular) that the question mentions;
- `question_words` of the question's words that name something in the retrieved examples' SQL
                 (this database's vocabulary), the share the closest SQL uses: a question about
                 a column the SQL never reads is not answered by it;
- `shape`        whether the SQL does what the question's wording asks (English cues): "how many"
                 and COUNT, "average" and AVG, "total" and SUM, "each"/"per" and GROUP BY,
                 "different" and DISTINCT, "which … highest" and ORDER BY … LIMIT against MAX:
                 the share of cues and operations that agree.

`confidence` is a logistic combination; its weights and the default threshold (settings
`retrieval.min_confidence`) were fitted by `benchmarks/calibrate_abstention.py` on questions the
synthesizer never saw (README "Abstention"), not by hand. The fit found `sql_literals` weak (its
weight came out negative: right answers often carry default filters the question leaves unsaid)
and the other three signals positive. A question that is word for word a stored one is answered
with that example (`same_question`), whatever the model says.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass

from rag.errors import SQLError
from rag.index import Hit, question_words
from rag.sqltools import normalize_sql, parse_sqlite
from rag.words import same_number, split_identifier, stem

# Fitted by benchmarks/calibrate_abstention.py (README "Abstention"); the intercept comes first.
WEIGHTS: dict[str, float] = {
    "bias": -6.658,
    "similarity": 1.313,
    "margin": 0.517,
    "sql_literals": -0.863,
    "question_literals": 1.569,
    "sql_words": 0.978,
    "question_words": 1.717,
    "shape": 1.142,
}

_SQL_STRING = re.compile(r"'((?:[^']|'')*)'")
_SQL_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")
_QUOTED = re.compile(r"[\"'“‘]([^\"'”’]{1,80})[\"'”’]")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w.])")
_SQL_NOISE = re.compile(r"\b(?:LIMIT|OFFSET)\s+\d+", re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    similarity: float
    margin: float
    sql_literals: float
    question_literals: float
    sql_words: float
    question_words: float
    shape: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def gather(question: str, hits: list[Hit]) -> Evidence | None:
    """The evidence for answering `question` with the SQL of `hits[0]` (None without hits)."""
    if not hits:
        return None
    top = hits[0]
    top_sql = normalize_sql(top.document.sql, tokens=False)
    rivals = [h.score for h in hits[1:] if normalize_sql(h.document.sql, tokens=False) != top_sql]
    margin = top.score - max(rivals) if rivals else top.score
    text = question.lower()
    sql_values = sql_literals(top.document.sql)
    found = sum(1 for value in sql_values if _mentions(text, value))
    asked = question_literals(question)
    sql_text = top.document.sql.lower()
    used = sum(1 for value in asked if value.lower() in sql_text)
    said = question_stems(question)
    read = schema_stems(top.document.sql)
    vocabulary = set().union(*(schema_stems(h.document.sql) for h in hits))
    named = said & vocabulary
    return Evidence(
        similarity=top.score,
        margin=margin,
        sql_literals=found / len(sql_values) if sql_values else 1.0,
        question_literals=used / len(asked) if asked else 1.0,
        sql_words=len(read & said) / len(read) if read else 1.0,
        question_words=len(named & read) / len(named) if named else 1.0,
        shape=shape_agreement(question, top.document.sql),
    )


# (question cue, SQL operation): a cue without its operation, or an operation without its cue, disagree.
_CUES: dict[str, re.Pattern[str]] = {
    "count": re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b|\bhow often\b", re.I),
    "avg": re.compile(r"\baverage\b|\bmean\b|\bavg\b", re.I),
    "sum": re.compile(r"\btotal\b|\bsum\b|\bcombined\b|\baltogether\b|\boverall\b", re.I),
    "group": re.compile(r"\beach\b|\bper\b|\bevery\b|\bfor all\b|\bby (?!far\b)\w+", re.I),
    "distinct": re.compile(r"\bdifferent\b|\bdistinct\b|\bunique\b", re.I),
    "superlative": re.compile(
        r"\b(?:highest|lowest|largest|smallest|biggest|most|least|fewest|top|oldest|youngest|newest|latest|earliest|"
        r"cheapest|maximum|minimum|max|min|best|worst|greatest|longest|shortest|heaviest|lightest|fastest|slowest|"
        r"richest|poorest|busiest|farthest|nearest|closest)\b",
        re.I,
    ),
}
_WHICH = re.compile(
    r"^\s*(?:which|who|what|list|show|name|give|find)\b(?!\s+(?:is|was|are)\s+the\s+(?:highest|lowest|maximum|minimum|largest|smallest)\b)",
    re.I,
)
_OPS: dict[str, re.Pattern[str]] = {
    "count": re.compile(r"\bCOUNT\s*\(", re.I),
    "avg": re.compile(r"\bAVG\s*\(", re.I),
    "sum": re.compile(r"\b(?:SUM|TOTAL)\s*\(", re.I),
    "group": re.compile(r"\bGROUP\s+BY\b", re.I),
    "distinct": re.compile(r"\bDISTINCT\b", re.I),
    "superlative": re.compile(r"\b(?:MAX|MIN)\s*\(|\bORDER\s+BY\b[^;]*\bLIMIT\b", re.I),
}


def shape_agreement(question: str, sql: str) -> float:
    """The share of the question's wording cues and the SQL's operations (count, average, total,
    grouping, distinct, superlative) that agree; 1.0 when neither has any. "total" may be a count."""
    body = _SQL_STRING.sub("''", sql)
    asked = {name for name, cue in _CUES.items() if cue.search(question)}
    done = {name for name, op in _OPS.items() if op.search(body)}
    if "sum" in asked and "sum" not in done and "count" in done:
        asked = (asked - {"sum"}) | {"count"}  # "the total number of …"
    if "group" in asked and "group" not in done and not ({"count", "avg", "sum"} & done):
        asked.discard("group")  # "list every course": no aggregate to group
    both = asked | done
    if not both:
        return 1.0
    agree = len(asked & done)
    # "which supplier has the highest rating" names a row: ORDER BY … LIMIT, not MAX(…) alone
    if (
        "superlative" in asked & done
        and _WHICH.search(question)
        and re.search(r"\b(?:MAX|MIN)\s*\(", body, re.I)
        and not re.search(r"\bLIMIT\b", body, re.I)
    ):
        agree -= 1
    return max(0.0, agree) / len(both)


def same_question(a: str, b: str) -> bool:
    """The same words, case and punctuation aside: a stored answer to this very question is reused as is."""
    return question_words(a) == question_words(b)


def confidence(evidence: Evidence, weights: dict[str, float] = WEIGHTS) -> float:
    """P(the closest example's SQL answers the question), from the fitted logistic weights."""
    z = weights["bias"] + sum(weights[name] * value for name, value in asdict(evidence).items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def sql_literals(sql: str) -> list[str]:
    """String and number literals of a query (LIMIT/OFFSET counts aside: "top 5" is wording, not a value)."""
    body = _SQL_NOISE.sub(" ", sql)
    strings = [s.replace("''", "'") for s in _SQL_STRING.findall(body)]
    numbers = _SQL_NUMBER.findall(_SQL_STRING.sub(" ", body))
    return [s for s in strings if s.strip("%_ ")] + numbers


def question_literals(question: str) -> list[str]:
    """The question's numbers and quoted values: what a right answer's SQL must use."""
    return [*(m.strip() for m in _QUOTED.findall(question)), *(n.replace(",", "") for n in _NUMBER.findall(question))]


_STOPWORDS = frozenset(
    "a an the of in on at to for by with from and or not no is are was were be been do does did has have had "
    "how many much what which who whom whose when where why there their they them it its this that these those "
    "each every all any some list show give find tell me us our my your i we you please than more most less "
    "least number count total".split()
)


def question_stems(question: str) -> set[str]:
    """The question's content words (stop words and numbers aside), stemmed."""
    words = re.findall(r"[^\W\d_]+", question)
    return {stem(w) for w in words if len(w) > 2 and w.lower() not in _STOPWORDS}


def schema_stems(sql: str) -> set[str]:
    """The words of the table and column names a query reads (output aliases aside), stemmed."""
    names = _schema_names(sql)
    return {stem(w) for name in names for w in split_identifier(name) if len(w) > 2 and w.lower() not in _STOPWORDS}


@functools.lru_cache(maxsize=4096)
def _schema_names(sql: str) -> frozenset[str]:
    from sqlglot import exp

    try:
        tree = parse_sqlite(sql)
    except SQLError:
        return frozenset()
    names = {c.name for c in tree.find_all(exp.Column)} | {t.name for t in tree.find_all(exp.Table)}
    aliases = {a.alias for a in tree.find_all(exp.Alias)} | {t.alias for t in tree.find_all(exp.Table) if t.alias}
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    return frozenset(n for n in names - (aliases | ctes) - {"*", ""})


def _mentions(text: str, value: str) -> bool:
    value = value.strip("%_ ").lower()
    if not value:
        return True
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        numbers = {n.replace(",", "") for n in _NUMBER.findall(text)}
        return any(same_number(value, n) for n in numbers)
    return value in text
