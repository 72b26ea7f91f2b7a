"""Structure augmentation: extra training rows that teach the encoder the shape of the SQL a text asks for.

Retrieval for text-to-SQL wants examples whose SQL has the same shape as the answer (the same
joins, grouping, set operation), and these mostly come from other databases, whose vocabulary
shares nothing with the question. Rows whose positive is a SQL query are used twice more:

- skeleton: (query → the positive's SQL skeleton, i.e. the query with names masked as `_`
  and values as `?`), with the negative's skeleton as the hard negative when it differs;
- same_skeleton: (query → the positive of up to `per_row` other rows whose positives share that
  skeleton), keeping the row's own negative.

Everything is derived from the triplet file itself; `eval.relevance.sql_skeleton` defines the
skeleton, the same definition the retrieval metrics use for relevance (README: the measured
effect, and why it is not a leak: only training rows are used).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from synth.triplets import Triplet

AUGMENTATIONS = ("skeleton", "same_skeleton")
_SQL_START = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


def _skeleton(text: str) -> str | None:
    """The SQL skeleton of `text`, or None when it is not one SELECT query."""
    if not text or not _SQL_START.match(text):
        return None
    from eval.relevance import sql_skeleton
    from rag.errors import SQLError
    from rag.sqltools import parse_sqlite

    try:
        parse_sqlite(text)
    except SQLError:
        return None
    return sql_skeleton(text)


def augment(rows: list[Triplet], kinds: tuple[str, ...] = AUGMENTATIONS, per_row: int = 2) -> list[Triplet]:
    """New rows (not including `rows`) for the requested kinds; see the module docstring."""
    unknown = [k for k in kinds if k not in AUGMENTATIONS]
    if unknown:
        from rag.errors import ConfigError

        raise ConfigError(f"unknown augmentation(s) {', '.join(unknown)} (choose from {', '.join(AUGMENTATIONS)})")
    skeletons = {row.pos: _skeleton(row.pos) for row in rows}
    extra: list[Triplet] = []
    if "skeleton" in kinds:
        for row in rows:
            shape = skeletons[row.pos]
            if shape and shape != row.pos:
                negative = _skeleton(row.neg) if row.neg else None
                extra.append(
                    replace(
                        row, pos=shape, neg=negative if negative and negative != shape else "", category="augmented", task_type="skeleton"
                    )
                )
    if "same_skeleton" in kinds:
        by_shape: dict[str, list[Triplet]] = defaultdict(list)
        for row in rows:
            if shape := skeletons[row.pos]:
                by_shape[shape].append(row)
        for row in rows:
            shape = skeletons[row.pos]
            partners = [other for other in by_shape.get(shape or "", []) if other.pos != row.pos and other.query != row.query]
            negative = row.neg if row.neg and _skeleton(row.neg) != shape else ""
            for other in partners[:per_row]:
                extra.append(replace(row, pos=other.pos, neg=negative, category="augmented", task_type="same_skeleton"))
    return extra
