"""The question → answer path, as a few plain calls:

    retrieve → prompt → generate → extract + validate SQL → execute read-only

`TextToSQL.from_settings(settings)` is the composition root: it loads the encoder, the index and
the generator once, and the CLI, the evaluation and the UI all build their service through it.
`ask` returns an `Answer`; `stream` yields the generated text as it grows and then the `Answer`
(the UI shows the SQL while an LLM writes it). The no-RAG baseline is the same path with k=0.
A step that fails records a typed error (`Answer.error_kind`) and the later steps are skipped,
so a batch run never stops on one bad answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from rag.abstain import Evidence, confidence, gather, same_question
from rag.adapt import AdaptLimits, adapt
from rag.answer import FALLBACK_NOTICE, Answer, Question, clip, composed_confidence, in_dialect, is_synthesized, retrieved_example, timed
from rag.compose import compose
from rag.compose_checks import grouping_gap, reads_named_table
from rag.databases import DatabaseRef
from rag.encoders import Encoder, encoder_from_settings
from rag.engines import Database
from rag.errors import SQLError
from rag.generators import Generator, make_generator
from rag.index import Hit, VectorIndex, masked_companion
from rag.linked import Link
from rag.linking import Linker
from rag.masking import Vocabulary, mask_question, vocabulary_of
from rag.retriever import ExampleRetriever
from rag.settings import Settings
from rag.sqltools import postprocess
from rag.wiring import encoder_and_index


class TextToSQL:
    """The question → SQL service: an encoder, an index, a generator, and the path over them."""

    def __init__(
        self,
        settings: Settings,
        index: VectorIndex,
        encoder: Encoder,
        generator: Generator,
        *,
        notice: str | None = None,
        show_progress: bool = False,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.generator = generator
        self.notice = notice  # shown to the user, e.g. "no LLM is configured"
        self.retriever = ExampleRetriever(index=index, encoder=encoder, k=settings.retrieval.k)
        self._masked: VectorIndex | None = None  # built on the first question that falls back
        self.show_progress = show_progress  # a progress bar when that first build embeds
        self._vocabularies: dict[str, Vocabulary] = {}
        self._linkers: dict[tuple[str, str], Linker] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        corpus: str = "default",
        encoder: Encoder | None = None,
        index: VectorIndex | None = None,
        build_index: Callable[[Encoder], VectorIndex] | None = None,
        generator: Generator | None = None,
        show_progress: bool = True,
    ) -> TextToSQL:
        """The service as configured: `settings.generator` (with a notice when no LLM is set up),
        the embedder, and the index of `corpus` (built and saved on first use). Pass a part to reuse
        it, or `build_index` to make the index for the encoder another way (the evaluation's train split).
        The generator is checked first, so a missing model fails before anything is embedded."""
        notice = None
        if generator is None:
            generator, notice = make_generator(settings.generator, settings)
        try:
            if index is None and build_index is None:
                encoder, index = encoder_and_index(settings, corpus, encoder=encoder, show_progress=show_progress)
            else:
                encoder = encoder or encoder_from_settings(settings)
                index = index if index is not None else build_index(encoder)  # type: ignore[misc]
        except BaseException:
            generator.close()
            raise
        return cls(settings, index, encoder, generator, notice=notice, show_progress=show_progress)

    @property
    def index(self) -> VectorIndex:
        return self.retriever.index

    def with_index(self, index: VectorIndex) -> TextToSQL:
        """The same service over another index (the UI swaps in a copy with newly saved examples)."""
        return TextToSQL(self.settings, index, self.encoder, self.generator, notice=self.notice)

    # -- answering ----------------------------------------------------------------------------

    def ask(
        self,
        question: str | Question,
        database: Database | None = None,
        *,
        db_key: str | None = None,
        schema: str | None = None,
        k: int | None = None,
        execute: bool = True,
        filter_db: bool = True,
        force: bool = False,
        conversation: str = "",
    ) -> Answer:
        """Answer one question about `database` (already open; None: generate only).

        `db_key` names the database's example store; `filter_db=False` retrieves from the whole
        store (gretel-style rows, whose databases are all different). `schema` defaults to the
        database's own. knn abstains when its evidence is weak unless `force`. `conversation`
        (earlier turns, for a follow-up question) goes into an LLM's prompt in its own section."""
        answer: Answer | None = None
        for event in self._run(question, database, db_key, schema, k, execute, filter_db, force, conversation, streaming=False):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        question: str | Question,
        database: Database | None = None,
        *,
        db_key: str | None = None,
        schema: str | None = None,
        k: int | None = None,
        execute: bool = True,
        filter_db: bool = True,
        force: bool = False,
        conversation: str = "",
    ) -> Iterator[str | Answer]:
        """Like `ask`, yielding the generated text as it grows (LLMs stream; knn answers at once),
        then the Answer last."""
        yield from self._run(question, database, db_key, schema, k, execute, filter_db, force, conversation, streaming=True)

    def ask_database(self, question: str | Question, ref: DatabaseRef, *, k: int | None = None, execute: bool = True) -> Answer:
        """Open `ref` read-only for the time of one question."""
        with ref.open(self.settings) as database:
            return self.ask(question, database, db_key=ref.key, k=k, execute=execute)

    def _run(
        self,
        question: str | Question,
        database: Database | None,
        db_key: str | None,
        schema: str | None,
        k: int | None,
        execute: bool,
        filter_db: bool,
        force: bool,
        conversation: str,
        *,
        streaming: bool,
    ) -> Iterator[str | Answer]:
        text = Question.parse(question, self.settings.max_question_chars).text
        k = self.settings.retrieval.k if k is None else k
        scope = db_key if filter_db else None
        started = time.perf_counter()
        answer = Answer(question=text, db=db_key or "", generator=self.generator.name, k=k)
        try:
            with timed(answer, "retrieve"):
                falls_back = bool(db_key and filter_db and not self.retriever.has_examples(db_key))
                adapting = self._adapts(k, database, falls_back)
                if falls_back and k > 0 and database is not None and self.settings.retrieval.fallback == "masked":
                    hits = sketches = self._search_masked(text, k, database, db_key or "")
                else:
                    sketches = self.retriever.search(text, max(k, self.settings.adapt.sketches) if adapting else k, scope)
                    hits = sketches[:k]
            dialect = database.dialect if database is not None else "sqlite"
            link = None
            if database is not None and self.settings.linking.enabled:
                with timed(answer, "link"):
                    link = self.link(text, database)
                answer.link = link.to_json()
            hits = in_dialect(hits, dialect, db_key)
            answer.retrieved = [retrieved_example(hit) for hit in hits]
            if hits and falls_back:
                answer.notice = FALLBACK_NOTICE
            with timed(answer, "prompt"):
                if schema is None:
                    schema = database.schema_sql() if database is not None else ""
                prompt = self._prompt(text, schema, hits, conversation, link, dialect)
                if prompt is not None:
                    answer.prompt_chars = len(prompt.to_string())
            raw = ""
            no_examples: SQLError | None = None
            if streaming and self.generator.streams:
                pieces = self.generator.stream(prompt, hits, scope, dialect)
                while True:
                    with timed(answer, "generate"):
                        piece = next(pieces, None)
                    if piece is None:
                        break
                    raw = piece
                    yield raw
            else:
                composing = self.generator.abstains and link is not None and database is not None and self.settings.linking.compose
                with timed(answer, "generate"):
                    try:
                        raw = self.generator.generate(prompt, hits, scope, dialect)
                    except SQLError as exc:  # knn without examples of this database: the link may still answer
                        if not composing or exc.kind == "abstain":
                            raise
                        no_examples = exc
            answer.raw = raw
            checked_at = time.monotonic()  # one time limit covers parsing, running and fetching
            if no_examples is None:
                with timed(answer, "extract"):
                    answer.sql = postprocess(
                        raw,
                        max_chars=self.settings.llm.max_answer_chars,
                        max_sql_chars=self.settings.execution.max_sql_chars,
                        dialect=dialect,
                    )
            evidence = None
            if adapting and database is not None:
                with timed(answer, "adapt"):
                    evidence = self._adapt(answer, text, sketches, database, db_key or "")
            composed = None
            if self.generator.abstains and link is not None and database is not None and self.settings.linking.compose:
                with timed(answer, "compose"):
                    composed = self._compose(answer, text, [] if no_examples else hits, link, database, evidence, force=force)
            if no_examples is not None and composed is None:
                if link is not None and link.nothing:
                    raise SQLError(
                        "nothing in the question was linked to this database, and it has no stored examples",
                        kind="abstain",
                        hint=no_examples.hint,
                    )
                raise no_examples
            if self.generator.abstains and composed is None:
                self._judge(answer, text, hits, force, evidence, link)
            if execute and database is not None:
                assert answer.sql is not None  # extracted, or composed when no example answered
                with timed(answer, "execute"):
                    try:
                        result = database.execute(answer.sql, started=checked_at)
                    except SQLError as exc:
                        if not (prompt is not None and exc.kind == "execution_error" and self.settings.linking.repair):
                            raise
                        result = self._repair(answer, prompt, exc, scope, dialect, database, started=checked_at)
                answer.columns, answer.rows, answer.truncated = result.columns, [list(r) for r in result.rows], result.truncated
                if result.notice:
                    answer.notice = f"{answer.notice} {result.notice}" if answer.notice else result.notice
        except SQLError as exc:
            answer.error, answer.error_kind = str(exc), exc.kind
            answer.sql = answer.sql or exc.sql
        privileged = database.privilege_notice if database is not None else None
        if privileged:  # a role that may write was let in: every answer says so
            answer.notice = f"{privileged}. {answer.notice}" if answer.notice else privileged
        answer.timings_ms["total"] = (time.perf_counter() - started) * 1000
        yield answer

    def _search_masked(self, question: str, k: int, database: Database, db_key: str) -> list[Hit]:
        """Other databases' examples for a database without its own, compared by masked question
        (this database's table, column and value words, numbers and quotes replaced by placeholders)
        against their masked questions: the same SQL shape rather than the same topic."""
        if db_key not in self._vocabularies:
            self._vocabularies[db_key] = vocabulary_of(database)
        if self._masked is None:
            self._masked = masked_companion(self.settings, self.encoder, self.index, show_progress=self.show_progress)
        masked = mask_question(question, self._vocabularies[db_key])
        return self._masked.search(self.encoder.encode([masked]), k)[0]

    def _adapts(self, k: int, database: Database | None, falls_back: bool) -> bool:
        """Whether this answer is adapted (rag.adapt): knn, with examples of this database to start from."""
        return (
            self.generator.name == "knn"
            and self.settings.adapt.enabled
            and k > 0
            and database is not None
            and not falls_back
            and getattr(database, "dialect", "sqlite") == "sqlite"  # sketches are adapted as SQLite ASTs (server engines: as stored)
        )

    def _adapt(self, answer: Answer, question: str, hits: list[Hit], database: Database, db_key: str) -> Evidence | None:
        """Fit the closest examples' SQL to the question; the chosen candidate's evidence (None: keep knn's)."""
        own = [h for h in hits if h.document.db == answer.db] or hits
        if not own or same_question(question, own[0].document.question):
            return None
        if db_key not in self._vocabularies:
            self._vocabularies[db_key] = vocabulary_of(database)
        limits = AdaptLimits(
            sketches=self.settings.adapt.sketches, max_candidates=self.settings.adapt.max_candidates, budget_s=self.settings.adapt.budget_s
        )
        chosen = adapt(question, own, database, self._vocabularies[db_key], limits)
        if chosen is None:
            return None
        if chosen.edits:
            answer.sql = chosen.sql
            answer.adapted = chosen.to_json()
        return chosen.evidence

    def _judge(
        self, answer: Answer, question: str, hits: list[Hit], force: bool, evidence: Evidence | None = None, link: Link | None = None
    ) -> None:
        """Set the answer's confidence; below `retrieval.min_confidence` (and without `force`) abstain.
        `evidence` is the adapted candidate's (rag.adapt), else the closest example's is gathered.
        A question that names nothing in its database abstains, saying so."""
        own = [h for h in hits if h.document.db == answer.db] or hits
        same = bool(own) and same_question(question, own[0].document.question)
        if link is not None and link.nothing and not same and not force:
            raise SQLError(
                "nothing in the question was linked to this database (no table, column or stored value it names)",
                kind="abstain",
                sql=answer.sql,
                hint="name the tables or values you mean, teach the SQL with `coderag db teach`, or pass --force",
            )
        evidence = evidence or gather(question, own)
        if evidence is None:
            return
        answer.confidence = 1.0 if same else confidence(evidence)
        gap = grouping_gap(answer.sql, link) if link is not None and not same and is_synthesized(own[0]) else None
        if gap is not None:  # "per model and status" answered per model id: a part of the question dropped
            answer.confidence = min(answer.confidence, self.settings.retrieval.min_confidence / 2)
        if answer.confidence < self.settings.retrieval.min_confidence and not force:
            unsure = f"; not understood: {', '.join(link.unlinked)}" if link is not None and link.unlinked else ""
            unsure += f"; {gap}" if gap else ""
            raise SQLError(
                f"no stored example matches this question well enough (closest: “{clip(own[0].document.question)}”, "
                f"similarity {own[0].score:.2f}, confidence {answer.confidence:.2f}){unsure}",
                kind="abstain",
                sql=answer.sql,
                hint="teach the right SQL with `coderag db teach`, configure an LLM, or pass --force to run the closest example's SQL",
            )

    # -- linking --------------------------------------------------------------------------------

    def link(self, question: str, database: Database) -> Link:
        """What the question names in `database` (its description and value index are read once
        per database state and kept for this service's life)."""
        return self.linker(database).link(question)

    def linker(self, database: Database, progress: Any = None) -> Linker:
        """The linker of an open database: its description (rag.describe), value index (rag.values)
        and this service's encoder; built on first use, cached by schema fingerprint."""
        from rag.describe import describe

        schema = describe(database, progress=progress, cache_dir=self.settings.home / "links")
        key = (schema.fingerprint, str(getattr(database, "path", "") or getattr(database, "dialect", "")))
        if key not in self._linkers:
            self._linkers[key] = Linker.of(
                database, self.settings.linking, self.encoder, cache_dir=self.settings.home / "links", schema=schema, indexing=progress
            )
        return self._linkers[key]

    def _compose(
        self,
        answer: Answer,
        question: str,
        hits: list[Hit],
        link: Link,
        database: Database,
        evidence: Evidence | None,
        *,
        force: bool = False,
    ) -> Any:
        """knn: SQL composed from the link (rag.compose) answers where the stored examples would not
        (the database has none, or the closest, adapted or not, is below `retrieval.min_confidence`)
        and, with `linking.composed_first`, in place of a synthesized example; an example a person
        taught or saved keeps its place. The composed SQL must account for every part of the
        question and run with rows. Returns the chosen candidate, or None."""

        own = [h for h in hits if h.document.db == answer.db] or hits
        if own and same_question(question, own[0].document.question) and not is_synthesized(own[0]):
            return None  # a person taught or saved this very question: their SQL is the answer
        evidence = evidence or (gather(question, own) if own else None)
        stored = confidence(evidence) if evidence is not None else 0.0
        # forced, a partial composition beats a stored example that reads none of the tables the question names
        partial = force and (not hits or not reads_named_table(answer.sql, link))
        for candidate in compose(link, database.dialect):
            if candidate.coverage < 1.0 and not partial:
                break
            try:
                result = database.execute(candidate.sql, max_rows=2)
            except SQLError:
                continue
            if not result.rows or all(v is None for v in result.rows[0]):
                continue
            score = composed_confidence(candidate.coverage, link)
            if (
                hits
                and stored >= self.settings.retrieval.min_confidence
                and not (self.settings.linking.composed_first and is_synthesized(own[0]))
            ):
                return None  # a stored example a person wrote (or, without composed_first, any confident one) stays the answer
            answer.sql, answer.confidence, answer.composed = candidate.sql, score, candidate.to_json()
            answer.adapted = None
            return candidate
        return None

    def _repair(
        self, answer: Answer, prompt: Any, error: SQLError, scope: str | None, dialect: str, database: Database, *, started: float
    ) -> Any:
        """One more LLM turn showing the failed query and its error; the new query runs or fails as
        usual, within what is left of the question's one time limit (counted from `started`)."""
        from rag.prompts import repair_prompt

        with timed(answer, "generate"):
            raw = self.generator.generate(repair_prompt(prompt, answer.sql or "", str(error)), [], scope, dialect)
        answer.raw, answer.repaired = raw, True
        answer.sql = postprocess(
            raw, max_chars=self.settings.llm.max_answer_chars, max_sql_chars=self.settings.execution.max_sql_chars, dialect=dialect
        )
        return database.execute(answer.sql, started=started)

    def _prompt(
        self, question: str, schema: str, hits: list[Hit], conversation: str = "", link: Link | None = None, dialect: str = "sqlite"
    ) -> Any:
        if not self.generator.uses_prompt:
            return None
        # imported here: the prompt is LangChain, which an answer from retrieval alone (knn) does not load
        from rag.prompts import build_prompt

        # examples synthesized for this question: the composed queries that account for all of it
        candidates = (
            [c.sql for c in compose(link, dialect) if c.coverage >= 1.0] if link is not None and self.settings.linking.compose else []
        )
        return build_prompt(
            question,
            schema,
            hits,
            link=link,
            dialect=dialect,
            max_schema_chars=self.settings.linking.prompt_schema_chars,
            conversation=conversation,
            candidates=candidates,
        )

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        self.generator.close()

    def __enter__(self) -> TextToSQL:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
