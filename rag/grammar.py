"""The GBNF grammar of one read-only SELECT, per SQL dialect (llama.cpp's constrained decoding, `llm.grammar`).

`rag/grammars/sqlite_select.gbnf` is the SQLite grammar and the source of the others: PostgreSQL,
MySQL/MariaDB and DuckDB share its statement, expression and lexical rules (bounded nesting, no
recursion, keywords excluded from bare names) and differ where the SELECT subset does:

| rule | SQLite | PostgreSQL | MySQL / MariaDB | DuckDB |
|---|---|---|---|---|
| quoted name | `"name"` | `"name"` | `` `name` `` | `"name"` |
| `a \\|\\| b` | concatenation | concatenation | (logical OR: left out) `CONCAT(a, b)` | concatenation |
| dates | `strftime(fmt, x)`, `date(x)` … | `TO_CHAR(x, fmt)`, `EXTRACT(YEAR FROM x)`, `DATE_TRUNC('month', x)` | `DATE_FORMAT(x, fmt)`, `YEAR(x)` … | `strftime(x, fmt)` (SQLite's order too), `date_part('year', x)`, `YEAR(x)` … |
| string aggregate | `GROUP_CONCAT(x, sep)` | `STRING_AGG(x, sep)` | `GROUP_CONCAT(x SEPARATOR sep)` | `STRING_AGG(x, sep)` |
| `IFNULL`, `INSTR` | yes | `COALESCE`, `STRPOS` | yes | yes |
| `TOTAL(x)` | yes | no | no | no |
| `ROUND(x, n)` | yes | `ROUND(CAST(x AS NUMERIC), n)` (n places round numerics only) | yes | yes |
| `CAST(x AS …)` | INTEGER, REAL, TEXT, NUMERIC | INTEGER, REAL, TEXT, NUMERIC, DATE | SIGNED, DECIMAL, CHAR, DATE | INTEGER, REAL, TEXT, NUMERIC, DATE |

The rules are rewritten by name (`replace_rules`); the tests run every grammar through llama.cpp's
own grammar sampler with statements that each engine accepts and ones it would not.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from rag.errors import ConfigError

SQLITE_GRAMMAR = Path(__file__).resolve().parent / "grammars" / "sqlite_select.gbnf"
DIALECTS = ("sqlite", "postgres", "mysql", "duckdb")
_RULE = re.compile(r"^([a-z][a-z0-9-]*)\s+::=")


def _functions(x: str, arg: str, own: list[str], round_forms: list[str] | None = None) -> str:
    """The function rule at one nesting level: `x` is its plain argument (s-expr / a-arith), `arg`
    an aggregate's or CAST's (s-expr / a-arg), `own` the dialect's own alternatives."""
    common = [
        '"COUNT(*)"',
        f'agg-name "(" distinct? {arg} ")"',
        f'scalar-name "(" {arg} ")"',
        *(round_forms or [f'"ROUND(" {arg} (", " integer)? ")"']),
        f'"SUBSTR(" {x} ", " integer (", " integer)? ")"',
        f'"COALESCE(" {x} (", " {x}){{1,3}} ")"',
        f'pair-name "(" {x} ", " {x} ")"',
        f'"REPLACE(" {x} ", " {x} ", " {x} ")"',
    ]
    alternatives = common + [o.format(x=x) for o in own] + [f'"CAST(" {arg} " AS " type-name ")"']
    return " |\n                ".join(alternatives)


_OWN = {
    "postgres": [
        '"TO_CHAR(" {x} ", " string ")"',
        '"EXTRACT(" date-field " FROM " {x} ")"',
        '"DATE_TRUNC(" string ", " {x} ")"',
        '"STRING_AGG(" {x} ", " string ")"',
    ],
    "mysql": [
        '"DATE_FORMAT(" {x} ", " string ")"',
        'date-name "(" {x} ")"',
        '"GROUP_CONCAT(" {x} (" SEPARATOR " string)? ")"',
        '"CONCAT(" {x} (", " {x}){{1,3}} ")"',
    ],
    "duckdb": [
        '"strftime(" {x} ", " string ")"',
        '"strftime(" string ", " {x} ")"',
        '"date_part(" string ", " {x} ")"',
        'date-name "(" {x} ")"',
        '"STRING_AGG(" {x} ", " string ")"',
    ],
}
_RULES = {
    "postgres": {
        "agg-name": '"COUNT" | "SUM" | "AVG" | "MIN" | "MAX"',
        "pair-name": '"NULLIF" | "STRPOS"',
        "date-field": '"YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "DOW" | "EPOCH"',
        "type-name": '"INTEGER" | "REAL" | "TEXT" | "NUMERIC" | "DATE"',
    },
    "mysql": {
        "arith-op": '" + " | " - " | " * " | " / " | " % "',
        "agg-name": '"COUNT" | "SUM" | "AVG" | "MIN" | "MAX"',
        "date-name": '"YEAR" | "MONTH" | "DAY" | "DATE" | "HOUR"',
        "type-name": '"SIGNED" | "DECIMAL" | "CHAR" | "DATE"',
        "ident": 'bare-ident | "`" [^`\\x00-\\x1F\\x7F]{1,30} "`"',
    },
    "duckdb": {
        "agg-name": '"COUNT" | "SUM" | "AVG" | "MIN" | "MAX"',
        "date-name": '"YEAR" | "MONTH" | "DAY" | "HOUR"',
        "type-name": '"INTEGER" | "REAL" | "TEXT" | "NUMERIC" | "DATE"',
    },
}


def replace_rules(text: str, rules: dict[str, str]) -> str:
    """`text` with each named rule's whole definition (continuation lines too) replaced; rules it
    lacks are added at the end."""
    lines, out, skipping, seen = text.splitlines(), [], False, set()
    for line in lines:
        match = _RULE.match(line)
        if match:
            name = match.group(1)
            skipping = name in rules
            if skipping:
                seen.add(name)
                out.append(f"{name:<11} ::= {rules[name]}")
                continue
        elif skipping and (line.startswith((" ", "\t")) and line.strip()):
            continue  # a continuation line of a replaced rule
        else:
            skipping = False
        out.append(line)
    out += [f"{name:<11} ::= {body}" for name, body in rules.items() if name not in seen]
    return "\n".join(out) + "\n"


@functools.cache
def grammar_text(dialect: str = "sqlite") -> str:
    """The GBNF text for one SELECT in `dialect` (sqlglot's names: sqlite, postgres, mysql, duckdb)."""
    if dialect not in DIALECTS:
        raise ConfigError(f"no SQL grammar for dialect '{dialect}' (available: {', '.join(DIALECTS)})")
    text = SQLITE_GRAMMAR.read_text(encoding="utf-8")
    if dialect == "sqlite":
        return text
    # PostgreSQL rounds to n places only numerics (ROUND(AVG(real), 2) is an error there)
    rounds = (
        (lambda arg: [f'"ROUND(" {arg} ")"', f'"ROUND(CAST(" {arg} " AS NUMERIC), " integer ")"'])
        if dialect == "postgres"
        else (lambda arg: None)
    )
    rules = {
        "function": _functions("s-expr", "s-expr", _OWN[dialect], rounds("s-expr")),
        "s-function": _functions("a-arith", "a-arg", _OWN[dialect], rounds("a-arg")),
        **_RULES[dialect],
    }
    header = f"# {dialect}_select.gbnf -- generated by rag/grammar.py from sqlite_select.gbnf (do not edit)\n"
    return header + replace_rules(text, rules)
