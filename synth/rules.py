"""Rule-based triplet generation: no LLM, deterministic for a seed.

Every rule turns one snippet into at most one triplet for its task; each task in the registry
(`synth.tasks`) carries its rule. SQL rules work on the sqlglot AST (`synth.sql`) and, where the
example has a database, check their work by running it through `rag.execution`: an injected bug
must change the result, a rewrite must not. Some rules also give a natural hard negative (the
buggy query for a bug description, the ascending sort for "sort descending", the query in the
wrong dialect for a migration); the others are mined later.
"""

from __future__ import annotations

import logging
import random
import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from tqdm.auto import tqdm

from rag.execution import DatabaseCache
from synth.facts import SnippetFacts, SqlFacts
from synth.sources import Snippet
from synth.sql.bugs import find_bugs
from synth.sql.context import Change, database_cache
from synth.sql.dialects import DIALECTS, STYLES, styles
from synth.sql.syntax import Query, Schema, same_text
from synth.stats import SynthStats
from synth.task import Task
from synth.triplets import Triplet

log = logging.getLogger(__name__)

MIGRATION_ASKS = (
    "Migrate this SQLite query to {dialect}.",
    "Port this query from SQLite to {dialect}.",
    "Convert this SQLite query so that it runs on {dialect}.",
)
COMPARISON_QUESTIONS = (
    "What is the difference between these two queries?",
    "How do the results of these two SQL queries differ?",
    "Do these two queries return the same rows? Explain the difference.",
)


def _triplet(
    task: Task,
    snippet: Snippet,
    query: str,
    pos: str,
    *,
    negatives: list[str] | None = None,
    sqlite: str | None = None,
    check: str,
    **meta: object,
) -> Triplet | None:
    """A triplet from a rule, or None when the pair is degenerate (empty, or query equals positive)."""
    query, pos = query.strip(), pos.strip()
    if not query or not pos or same_text(query, pos):
        return None
    triplet = Triplet(
        query=query,
        pos=pos,
        category=task.category.value,
        task_type=task.name,
        source=snippet.origin,
        meta={"generator": "rules", "language": snippet.language, "check": check, **{k: v for k, v in meta.items() if v is not None}},
        work={"sqlite": sqlite, "context": snippet.context, "db_path": snippet.db_path},
    )
    negatives = [n.strip() for n in negatives or [] if n and n.strip() and not same_text(n, pos)]
    triplet.set_negatives(negatives, "rule")
    return triplet


def _quoted(question: str) -> str:
    return f'"{question.strip()}"'


# --- SQL rules ------------------------------------------------------------------------------


def rule_text2sql(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.snippet.question:
        return None
    return _triplet(task, f.snippet, f.snippet.question, f.sql, sqlite=f.sql, check="gold")


def rule_sql_from_explanation(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.snippet.explanation:
        return None
    return _triplet(task, f.snippet, f.snippet.explanation, f.sql, sqlite=f.sql, check="gold")


def rule_sql_schema_linking(task: Task, f: SqlFacts) -> Triplet | None:
    """Question → the description of a table its SQL reads (rag.linking's words for a table); the
    negative is a table of the same schema the SQL does not read. Needs a question and two tables."""
    from sqlglot import exp

    from rag.linking import table_document

    schema = f.schema
    if not f.snippet.question or f.query is None or len(schema) < 2:
        return None
    lowered = {name.lower(): name for name in schema}
    read = [lowered[t.name.lower()] for t in f.query.tree.find_all(exp.Table) if t.name.lower() in lowered]
    others = sorted(set(schema) - set(read))
    if not read or not others:
        return None
    rng = f.rng("schema_linking")
    table = rng.choice(sorted(set(read)))
    other = rng.choice(others)
    return _triplet(
        task,
        f.snippet,
        f.snippet.question,
        table_document(table, list(schema[table])),
        negatives=[table_document(other, list(schema[other]))],
        check="schema",
    )


def rule_sql_bug_description(task: Task, f: SqlFacts) -> Triplet | None:
    bugs, verified = f.bugs
    if not bugs:
        return None
    bug = bugs[0]
    lead = f"The query for {_quoted(f.snippet.question)}" if f.snippet.question else "The query"
    return _triplet(
        task, f.snippet, f"{lead} {bug.bug}.", f.canonical, negatives=[bug.sql], sqlite=f.canonical, check=f.check(verified), rule=bug.kind
    )


def rule_sql_bug_fix(task: Task, f: SqlFacts) -> Triplet | None:
    bugs, verified = f.bugs
    if not bugs:
        return None
    bug, others = bugs[-1], bugs[:-1]
    lead = f"This query should answer {_quoted(f.snippet.question)}, but it" if f.snippet.question else "This query"
    query = f"{lead} {bug.bug}. Fix it:\n{bug.sql}"
    return _triplet(
        task, f.snippet, query, f.canonical, negatives=[o.sql for o in others], sqlite=f.canonical, check=f.check(verified), rule=bug.kind
    )


def rule_sql_explanation(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.snippet.explanation:
        return None
    return _triplet(task, f.snippet, f.sql, f.snippet.explanation, sqlite=f.sql, check="gold")


def rule_sql_to_question(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.snippet.question:
        return None
    return _triplet(task, f.snippet, f.sql, f.snippet.question, sqlite=f.sql, check="gold")


def rule_sql_translation(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.translations:
        return None
    dialect, translated = next(iter(f.translations.items()))
    return _triplet(task, f.snippet, f.sql, translated, sqlite=f.sql, check="parsed", dialect=dialect)


def rule_sql_rewrite(task: Task, f: SqlFacts) -> Triplet | None:
    rewrites, verified = f.rewrites
    if not rewrites:
        return None
    rewrite = rewrites[0]
    negatives: list[str] = []
    if rewrite.tree is not None:  # the rewritten form with a bug: same look, other result
        bugs, _ = find_bugs(f.context("rewrite-negative", Query(rewrite.tree, rewrite.sql)), limit=1)
        negatives = [b.sql for b in bugs]
    return _triplet(
        task, f.snippet, f.sql, rewrite.sql, negatives=negatives, sqlite=rewrite.sql, check=f.check(verified), rule=rewrite.kind
    )


def rule_sql_modification(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.edits:
        return None
    edit = f.edits[0]
    return _triplet(
        task,
        f.snippet,
        f"{edit.instruction}\n{f.sql}",
        edit.sql,
        negatives=[edit.contrast],
        sqlite=edit.sql,
        check="executed" if edit.changes_result is not None else "parsed",
        rule=edit.kind,
        changes_result=edit.changes_result,
    )


def rule_sql_refactor(task: Task, f: SqlFacts) -> Triplet | None:
    refactors, verified = f.refactors
    if not refactors:
        return None
    refactor = refactors[0]
    return _triplet(
        task, f.snippet, f"{refactor.instruction}\n{f.sql}", refactor.sql, sqlite=refactor.sql, check=f.check(verified), rule=refactor.kind
    )


def rule_sql_migration(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.translations:
        return None
    dialects = list(f.translations)
    dialect = dialects[-1]
    ask = f.rng("migration").choice(MIGRATION_ASKS).format(dialect=DIALECTS[dialect])
    wrong = [f.translations[d] for d in dialects[:-1]]
    return _triplet(
        task, f.snippet, f"{ask}\n{f.sql}", f.translations[dialect], negatives=wrong, sqlite=f.sql, check="parsed", dialect=dialect
    )


def rule_sql_style(task: Task, f: SqlFacts) -> Triplet | None:
    found = styles(f.parsed, f.sql)
    if not found:
        return None
    style = f.rng("style").choice(sorted(found))
    return _triplet(task, f.snippet, f"{STYLES[style]}\n{f.sql}", found[style], sqlite=found[style], check="parsed", rule=style)


def rule_sql_comparison(task: Task, f: SqlFacts) -> Triplet | None:
    rng = f.rng("comparison")
    bugs, _ = f.bugs
    rewrites, _ = f.rewrites
    changes = [(c, False) for c in f.edits + bugs] + [(c, True) for c in rewrites]
    if not changes:
        return None
    rng.shuffle(changes)
    (change, same), others = changes[0], changes[1:]

    def answer(c: Change, equivalent: bool) -> str:
        if equivalent:
            return f"Both queries return the same rows; the second one only {c.diff}."
        return f"The second query {c.diff}; otherwise the two queries are the same."

    negatives = [answer(c, s) for c, s in others if c.kind != change.kind]
    if not same and change.contrast_diff:
        negatives.insert(0, f"The second query {change.contrast_diff}; otherwise the two queries are the same.")
    query = f"{rng.choice(COMPARISON_QUESTIONS)}\nQuery 1:\n{f.canonical}\nQuery 2:\n{change.sql}"
    return _triplet(task, f.snippet, query, answer(change, same), negatives=negatives, check=f.check(f.can_run), rule=change.kind)


# --- rules for any code -------------------------------------------------------------------------


def rule_code_context(task: Task, f: SnippetFacts) -> Triplet | None:
    snippet = f.snippet
    cut = split_point(snippet.text, f.rng(task.name), language=snippet.language)
    if cut is None:
        return None
    head, tail = snippet.text[:cut].rstrip(), snippet.text[cut:].strip()
    if len(head) < 8 or len(tail) < 8:
        return None
    return _triplet(task, snippet, head, tail, check="none", cut=round(cut / len(snippet.text), 2))


_CLAUSE = re.compile(
    r"\s(?=(?:FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT|(?:LEFT |INNER |CROSS )?JOIN|ON|AND|OR|UNION|INTERSECT|EXCEPT|SELECT|WITH)\b)",
    re.IGNORECASE,
)


def split_point(text: str, rng: random.Random, low: float = 0.4, high: float = 0.7, language: str = "") -> int | None:
    """A cut near a random 40–70% point: at a clause keyword for SQL, else at a line break
    (multi-line text) or a space; only cuts within 25–85% of the text qualify."""
    if len(text) < 16:
        return None
    target = int(len(text) * rng.uniform(low, high))
    if language == "sql":
        cuts = [m.start() for m in _CLAUSE.finditer(text)]
    else:
        separator = "\n" if text.count("\n") >= 2 else " "
        cuts = [i for i, ch in enumerate(text) if ch == separator]
    cuts = [i for i in cuts if 0.25 * len(text) <= i <= 0.85 * len(text)]
    if not cuts:
        return None
    return min(cuts, key=lambda i: (abs(i - target), i))


def _summary(docstring: str) -> str:
    """The docstring's first paragraph on one line; empty when it is too short to describe anything."""
    first = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    text = " ".join(first.split())
    return text if len(text.split()) >= 3 else ""


def rule_code_explanation(task: Task, f: SnippetFacts) -> Triplet | None:
    snippet = f.snippet
    summary = _summary(snippet.docstring)
    if not summary or not snippet.body or snippet.body == snippet.text:
        return None
    return _triplet(task, snippet, summary, snippet.body, check="gold")


def rule_code_summary(task: Task, f: SnippetFacts) -> Triplet | None:
    snippet = f.snippet
    summary = _summary(snippet.docstring)
    if not summary or not snippet.body or snippet.body == snippet.text:
        return None
    return _triplet(task, snippet, snippet.body, summary, check="gold")


# --- running the rules --------------------------------------------------------------------------


def _generate_chunk(snippets: list[Snippet], tasks: list[Task], seed: int) -> tuple[list[Triplet], SynthStats]:
    """All rule triplets of some snippets (one database cache for the chunk)."""
    stats = SynthStats()
    out: list[Triplet] = []
    schemas: dict[str, Schema] = {}
    with database_cache() as databases:
        for snippet in snippets:
            out.extend(generate_for_snippet(snippet, tasks, seed, databases, schemas, stats))
    return out, stats


def generate_for_snippet(
    snippet: Snippet, tasks: list[Task], seed: int, databases: DatabaseCache | None, schemas: dict[str, Schema], stats: SynthStats
) -> list[Triplet]:
    """The rule triplets of one snippet; a rule that raises is logged and counted as a failure.
    SQL tasks need the query to parse: a snippet whose SQL does not is skipped for every task."""
    chosen = [t for t in tasks if t.rule is not None and t.applies_to(snippet.language)]
    facts = SnippetFacts(snippet, seed)
    if snippet.language == "sql" and any(t.languages == "sql" for t in chosen):
        facts = SqlFacts(snippet, seed, databases, schemas)
        if facts.query is None:
            stats.note("skipped input: SQL that does not parse")
            return []
    out = []
    for task in chosen:
        rule = task.rule
        assert rule is not None  # chosen: the tasks with a rule
        try:
            triplet = rule(task, facts)
        except Exception as exc:  # a rule must never stop a run: count, log, go on
            log.warning("rule %s failed on %s: %s: %s", task.name, snippet.origin, type(exc).__name__, exc)
            stats.count("failures", task.category.value)
            stats.note(f"failure: rule {task.name} ({type(exc).__name__})")
            continue
        if triplet is None:
            stats.note(f"not applicable: {task.name}")
            continue
        stats.count("made", task.category.value)
        out.append(triplet)
    return out


def generate_rule_triplets(
    snippets: list[Snippet], tasks: list[Task], *, seed: int = 0, workers: int = 1, show_progress: bool = True, chunk_size: int = 250
) -> tuple[list[Triplet], SynthStats]:
    """Rule triplets for every snippet and task that has a rule, in snippet order.

    With `workers` > 1 the snippets are split into chunks run in separate processes (the rules
    are CPU-bound Python); the output is the same as with one worker.
    """
    chunks = [snippets[i : i + chunk_size] for i in range(0, len(snippets), chunk_size)]
    stats = SynthStats()
    out: list[Triplet] = []
    bar = tqdm(total=len(snippets), desc="rule synthesis", unit="snippet", disable=not show_progress)
    try:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                triplets, chunk_stats = _generate_chunk(chunk, tasks, seed)
                out.extend(triplets)
                stats.merge(chunk_stats)
                bar.update(len(chunk))
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_generate_chunk, chunk, tasks, seed) for chunk in chunks]
                for chunk, future in zip(chunks, futures):
                    triplets, chunk_stats = future.result()
                    out.extend(triplets)
                    stats.merge(chunk_stats)
                    bar.update(len(chunk))
    finally:
        bar.close()
    return out, stats
