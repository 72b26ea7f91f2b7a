"""Rule-based triplet generation: no LLM, deterministic for a seed.

Every rule turns one snippet into at most one triplet for its task. SQL rules work on the
sqlglot AST (`synth.sqlrules`) and, where the example has a database, check their work by
running it: an injected bug must change the result, a rewrite must not. Some rules also give a
natural hard negative (the buggy query for a bug description, the ascending sort for "sort
descending", the query in the wrong dialect for a migration); the others are mined later.

Randomness comes from `random.Random(f"{seed}:{purpose}:{origin}")`, so a snippet's triplets do
not depend on which other snippets or tasks are in the run.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cached_property
from multiprocessing import get_context

from tqdm.auto import tqdm

from synth import sqlrules as sq
from synth.sources import Snippet
from synth.stats import SynthStats
from synth.tasks import Task
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


class SqlFacts:
    """What the SQL rules learn about one snippet, computed on first use and shared by its tasks."""

    def __init__(self, snippet: Snippet, runner: sq.SqlRunner | None, seed: int, schemas: dict[str, sq.Schema]) -> None:
        self.snippet = snippet
        self.runner = runner
        self.seed = seed
        self._schemas = schemas
        tree = sq.parse_query(snippet.text)
        self.query = sq.Query.of(tree) if tree is not None else None
        self._rewritten: dict = {}  # rewrite name → rewritten tree, shared by the rewrite and refactor tasks

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{purpose}:{self.snippet.origin}")

    @property
    def sql(self) -> str:
        return self.snippet.text

    @property
    def canonical(self) -> str:
        """The query as sqlglot writes it: used wherever variants (also sqlglot-written) stand next
        to it, so formatting (`AS`, keyword case) cannot tell them apart."""
        return self.query.sql  # type: ignore[union-attr]

    @cached_property
    def schema(self) -> sq.Schema:
        key = hashlib.md5(self.snippet.context.encode()).hexdigest()
        if key not in self._schemas:
            self._schemas[key] = sq.parse_schema(self.snippet.context) if self.snippet.context else {}
        return self._schemas[key]

    def _args(self) -> tuple:
        return self.runner, self.snippet.context, self.snippet.db_path

    @cached_property
    def bugs(self) -> tuple[list[sq.Change], bool]:
        return sq.find_bugs(self.query, *self._args(), self.rng("bugs"), limit=2)

    @cached_property
    def edits(self) -> list[sq.Change]:
        return sq.find_edits(self.query, self.schema, *self._args(), self.rng("edits"), limit=1)

    @cached_property
    def rewrites(self) -> tuple[list[sq.Change], bool]:
        return sq.find_rewrites(self.query, self.schema, *self._args(), self.rng("rewrites"), limit=1, memo=self._rewritten)

    @cached_property
    def refactors(self) -> tuple[list[sq.Change], bool]:
        return sq.find_rewrites(self.query, self.schema, *self._args(), self.rng("refactors"), limit=1, refactor_only=True, memo=self._rewritten)

    @cached_property
    def translations(self) -> dict[str, str]:
        return sq.find_translations(self.query, self.rng("dialects"), limit=2)

    @cached_property
    def can_run(self) -> bool:
        """Whether the query runs on its own database, so changes to it can be checked by execution."""
        return self.runner is not None and self.runner.run(self.sql, self.snippet.context, self.snippet.db_path) is not None

    def check(self, verified: bool) -> str:
        return "executed" if verified else "parsed"


def _triplet(task: Task, snippet: Snippet, query: str, pos: str, *, negatives: list[str] | None = None,
             sqlite: str | None = None, check: str, **meta: object) -> Triplet | None:
    """A triplet from a rule, or None when the pair is degenerate (empty, or query equals positive)."""
    query, pos = query.strip(), pos.strip()
    if not query or not pos or sq.same_text(query, pos):
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
    negatives = [n.strip() for n in negatives or [] if n and n.strip() and not sq.same_text(n, pos)]
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


def rule_sql_bug_description(task: Task, f: SqlFacts) -> Triplet | None:
    bugs, verified = f.bugs
    if not bugs:
        return None
    bug = bugs[0]
    lead = f"The query for {_quoted(f.snippet.question)}" if f.snippet.question else "The query"
    return _triplet(task, f.snippet, f"{lead} {bug.bug}.", f.canonical, negatives=[bug.sql], sqlite=f.canonical, check=f.check(verified), rule=bug.kind)


def rule_sql_bug_fix(task: Task, f: SqlFacts) -> Triplet | None:
    bugs, verified = f.bugs
    if not bugs:
        return None
    bug, others = bugs[-1], bugs[:-1]
    lead = f"This query should answer {_quoted(f.snippet.question)}, but it" if f.snippet.question else "This query"
    query = f"{lead} {bug.bug}. Fix it:\n{bug.sql}"
    return _triplet(task, f.snippet, query, f.canonical, negatives=[o.sql for o in others], sqlite=f.canonical, check=f.check(verified), rule=bug.kind)


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
        bugs, _ = sq.find_bugs(sq.Query(rewrite.tree, rewrite.sql), *f._args(), f.rng("rewrite-negative"), limit=1)
        negatives = [b.sql for b in bugs]
    return _triplet(task, f.snippet, f.sql, rewrite.sql, negatives=negatives, sqlite=rewrite.sql, check=f.check(verified), rule=rewrite.kind)


def rule_sql_modification(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.edits:
        return None
    edit = f.edits[0]
    return _triplet(task, f.snippet, f"{edit.instruction}\n{f.sql}", edit.sql, negatives=[edit.contrast], sqlite=edit.sql,
                    check="executed" if edit.changes_result is not None else "parsed", rule=edit.kind, changes_result=edit.changes_result)


def rule_sql_refactor(task: Task, f: SqlFacts) -> Triplet | None:
    refactors, verified = f.refactors
    if not refactors:
        return None
    refactor = refactors[0]
    return _triplet(task, f.snippet, f"{refactor.instruction}\n{f.sql}", refactor.sql, sqlite=refactor.sql, check=f.check(verified), rule=refactor.kind)


def rule_sql_migration(task: Task, f: SqlFacts) -> Triplet | None:
    if not f.translations:
        return None
    dialects = list(f.translations)
    dialect = dialects[-1]
    ask = f.rng("migration").choice(MIGRATION_ASKS).format(dialect=sq.DIALECTS[dialect])
    wrong = [f.translations[d] for d in dialects[:-1]]
    return _triplet(task, f.snippet, f"{ask}\n{f.sql}", f.translations[dialect], negatives=wrong, sqlite=f.sql, check="parsed", dialect=dialect)


def rule_sql_style(task: Task, f: SqlFacts) -> Triplet | None:
    found = sq.styles(f.query, f.sql)
    if not found:
        return None
    style = f.rng("style").choice(sorted(found))
    return _triplet(task, f.snippet, f"{sq.STYLES[style]}\n{f.sql}", found[style], sqlite=found[style], check="parsed", rule=style)


def rule_sql_comparison(task: Task, f: SqlFacts) -> Triplet | None:
    rng = f.rng("comparison")
    bugs, _ = f.bugs
    rewrites, _ = f.rewrites
    changes = [(c, False) for c in f.edits + bugs] + [(c, True) for c in rewrites]
    if not changes:
        return None
    rng.shuffle(changes)
    (change, same), others = changes[0], changes[1:]

    def answer(c: sq.Change, equivalent: bool) -> str:
        if equivalent:
            return f"Both queries return the same rows; the second one only {c.diff}."
        return f"The second query {c.diff}; otherwise the two queries are the same."

    negatives = [answer(c, s) for c, s in others if c.kind != change.kind]
    if not same and change.contrast_diff:
        negatives.insert(0, f"The second query {change.contrast_diff}; otherwise the two queries are the same.")
    query = f"{rng.choice(COMPARISON_QUESTIONS)}\nQuery 1:\n{f.canonical}\nQuery 2:\n{change.sql}"
    return _triplet(task, f.snippet, query, answer(change, same), negatives=negatives, check=f.check(f.can_run), rule=change.kind)


# --- rules for any code -------------------------------------------------------------------------


def rule_code_context(task: Task, snippet: Snippet, rng: random.Random) -> Triplet | None:
    cut = sq.split_point(snippet.text, rng, language=snippet.language)
    if cut is None:
        return None
    head, tail = snippet.text[:cut].rstrip(), snippet.text[cut:].strip()
    if len(head) < 8 or len(tail) < 8:
        return None
    return _triplet(task, snippet, head, tail, check="none", cut=round(cut / len(snippet.text), 2))


def _summary(docstring: str) -> str:
    """The docstring's first paragraph on one line; empty when it is too short to describe anything."""
    first = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)[0]
    text = " ".join(first.split())
    return text if len(text.split()) >= 3 else ""


def rule_code_explanation(task: Task, snippet: Snippet, rng: random.Random) -> Triplet | None:
    summary = _summary(snippet.docstring)
    if not summary or not snippet.body or snippet.body == snippet.text:
        return None
    return _triplet(task, snippet, summary, snippet.body, check="gold")


def rule_code_summary(task: Task, snippet: Snippet, rng: random.Random) -> Triplet | None:
    summary = _summary(snippet.docstring)
    if not summary or not snippet.body or snippet.body == snippet.text:
        return None
    return _triplet(task, snippet, snippet.body, summary, check="gold")


SQL_RULES: dict[str, Callable[[Task, SqlFacts], Triplet | None]] = {
    "text2sql": rule_text2sql,
    "sql_from_explanation": rule_sql_from_explanation,
    "sql_bug_description": rule_sql_bug_description,
    "sql_explanation": rule_sql_explanation,
    "sql_to_question": rule_sql_to_question,
    "sql_translation": rule_sql_translation,
    "sql_rewrite": rule_sql_rewrite,
    "sql_modification": rule_sql_modification,
    "sql_bug_fix": rule_sql_bug_fix,
    "sql_refactor": rule_sql_refactor,
    "sql_migration": rule_sql_migration,
    "sql_style": rule_sql_style,
    "sql_comparison": rule_sql_comparison,
}
CODE_RULES: dict[str, Callable[[Task, Snippet, random.Random], Triplet | None]] = {
    "code_context": rule_code_context,
    "code_explanation": rule_code_explanation,
    "code_summary": rule_code_summary,
}
RULE_TASKS = frozenset(SQL_RULES) | frozenset(CODE_RULES)


# --- running the rules --------------------------------------------------------------------------


def _generate_chunk(snippets: list[Snippet], tasks: list[Task], seed: int) -> tuple[list[Triplet], SynthStats]:
    """All rule triplets of some snippets (one SqlRunner for the chunk)."""
    stats = SynthStats()
    out: list[Triplet] = []
    runner = sq.SqlRunner()
    schemas: dict[str, sq.Schema] = {}
    try:
        for snippet in snippets:
            out.extend(generate_for_snippet(snippet, tasks, seed, runner, schemas, stats))
    finally:
        runner.close()
    return out, stats


def generate_for_snippet(snippet: Snippet, tasks: list[Task], seed: int, runner: sq.SqlRunner | None,
                         schemas: dict[str, sq.Schema], stats: SynthStats) -> list[Triplet]:
    """The rule triplets of one snippet; a rule that raises is logged and counted as a failure."""
    chosen = [t for t in tasks if t.name in RULE_TASKS and t.applies_to(snippet.language)]
    facts = None
    if snippet.language == "sql" and any(t.name in SQL_RULES for t in chosen):
        facts = SqlFacts(snippet, runner, seed, schemas)
        if facts.query is None:
            stats.note("skipped input: SQL that does not parse")
            return []
    out = []
    for task in chosen:
        try:
            if task.name in SQL_RULES:
                triplet = SQL_RULES[task.name](task, facts)  # type: ignore[arg-type]
            else:
                triplet = CODE_RULES[task.name](task, snippet, random.Random(f"{seed}:{task.name}:{snippet.origin}"))
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
