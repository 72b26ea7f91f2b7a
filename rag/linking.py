"""Link a question to its database: the tables, columns and cell values it names, and the joins between them.

The question is read once (`Reading`: its words, their stems, numbers with units, quoted text) and
every schema element is scored against it by three kinds of evidence, each kept with its reason:

- lexical: the element's split identifier words (singular and plural meet: `invoice_lines` ↔ "invoice
  line") found among the question's stems;
- values:  the value index (rag.values) finds the stored values the question mentions, exactly,
  case-folded or misspelled, and the numbers with units that fit a column ("5 minutes" → a ms column);
- meaning: the project's retriever (a text → SQL encoder) ranks the tables by the similarity of the
  question to each table's description, to fill the prompt beyond what the words name.

The linked tables are joined along the shortest foreign-key paths (declared, or inferred by
rag.describe), and each table's display columns (a name or title next to an id) are named, so "each
genre" can group by the genre's name. The result, a `Link`, is what retrieval, the prompt, the
offline candidates and the confidence all take; `unlinked` lists the question's content words that
no element, value or operator accounts for.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.describe import describe
from rag.diskcache import data_stamp, disk_cached
from rag.linked import Link, Linked
from rag.reading import WORD, Reading, name_stems, phrase_stems
from rag.schema import DatabaseSchema, ForeignKey, Table, label_columns
from rag.settings import LinkingSettings
from rag.values import ValueHit, ValueIndex, unit_hits
from rag.words import normalize_word, split_identifier

__all__ = ["Linker", "describe_table", "shortest_path", "table_document"]

_GENERIC_COLUMN_WORDS = frozenset({"id", "ids", "key", "code", "no", "num", "nbr"})
_FLAG_PREFIXES = frozenset({"is", "has", "was", "can", "flag"})
SYNONYM_MIN, SYNONYM_MARGIN = 0.75, 0.1


@dataclass
class Linker:
    """Links questions to one described database (`schema`), with its value index and, when given,
    the retriever's encoder (table descriptions are embedded once, on the first question)."""

    schema: DatabaseSchema
    values: ValueIndex
    encoder: Any = None
    max_tables: int = 6  # tables the retriever adds to the prompt besides those the question names, their joins and neighbours
    max_neighbours: int = 10  # foreign-key neighbours of the named tables and tables holding a mentioned value, best first
    cache_dir: Path | None = None  # where the table embeddings are kept between processes (home/links)
    _table_stems: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _column_stems: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    _embeddings: np.ndarray | None = field(default=None, repr=False)
    _names: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for table in self.schema.tables:
            self._table_stems[table.name] = name_stems(table.name)
            for column in table.columns:
                if column.kind == "key":  # a key names the table it refers to, not data of its own
                    continue
                stems = tuple(s for s in name_stems(column.name) if s not in _GENERIC_COLUMN_WORDS)
                if len(stems) > 1 and stems[0] in _FLAG_PREFIXES:  # isActive is named by "active"
                    stems = stems[1:]
                self._column_stems[(table.name, column.name)] = stems
        self._graph = _graph(self.schema.foreign_keys)

    # -- evidence -----------------------------------------------------------------------------------

    def link(self, question: str | Reading) -> Link:
        reading = question if isinstance(question, Reading) else Reading.read(question)
        said = set(reading.stems)
        tables = {t.name: t for t in self.schema.tables}
        evidence: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        columns: list[Linked] = []

        def note(table: str, score: float, reason: str) -> None:
            if score > evidence.get(table, 0.0):
                evidence[table] = score
            why.setdefault(table, []).append(reason)

        table_words: set[str] = set()  # words that name a whole table
        partial: list[tuple[str, list[str], float]] = []
        for name, stems in self._table_stems.items():
            hit = [s for s in stems if s in said]
            if stems and hit:
                share = len(hit) / len(stems)
                if share == 1:
                    note(name, 1.0, f"the question says {' '.join(hit)!r}")
                    table_words.update(stems)
                else:
                    partial.append((name, hit, share))
        content = set(reading.content)
        for name, hit, share in partial:
            hit = [s for s in hit if s in content]  # "List the playlists" does not name web_price_lists
            if not hit:
                continue
            # part of a longer name is weaker than a whole one; its head noun ("sessions" of viewing_sessions)
            # names it when no table is called by that word alone
            head = self._table_stems[name][-1] in hit and not set(hit) <= table_words
            note(name, 0.7 if head else 0.8 * share, f"the question says {' '.join(hit)!r}")
        whole = {t for t, score in evidence.items() if score >= 1.0}
        for (table, column), stems in self._column_stems.items():
            hit = [s for s in stems if s in said]
            if not stems or not hit:
                continue
            share = len(hit) / len(stems)
            own = set(self._table_stems[table])
            if set(hit) <= own:  # "customer_name" in customers matched by "customer" alone names the table, not the column
                continue
            # "each genre" names the genres table; a genre column elsewhere is not what it names
            named_by = "words" if not set(hit) <= table_words or table in whole else "shadowed"
            columns.append(
                Linked(table, column, share, (f"the question says {' '.join(hit)!r}",) + ((named_by,) if named_by == "shadowed" else ()))
            )
        values = self._placed(self.values.match(reading.text), whole)
        for v in values:
            columns.append(Linked(v.table, v.column, v.score, (f"holds the value {v.value!r} ({v.how})",)))
            note(v.table, v.score, f"holds {v.value!r}")
        units = unit_hits(reading.text, self.schema, lambda name: [w.lower() for w in split_identifier(name)])
        for u in units:
            columns.append(Linked(u.table, u.column, 0.7, (u.conversion,)))
        # a column named by the question links its table (less strongly than naming the table); a word
        # that names columns in many tables names only those joined to a table the question names
        worded = [c for c in columns if c.score >= 0.5 and not any(r.startswith("holds") or r == "shadowed" for r in c.why)]
        holders: dict[tuple[str, ...], set[str]] = {}
        for c in worded:
            holders.setdefault(self._column_stems.get((c.table, c.column or ""), ()), set()).add(c.table)
        for c in worded:
            tables_with = holders[self._column_stems.get((c.table, c.column or ""), ())]
            if (
                len(tables_with) > 2
                and c.table not in whole
                and not any(_shortest(self._graph, {c.table}, t, 2) is not None for t in whole)
            ):
                continue
            note(c.table, 0.6 * c.score, f"has the column {c.column}")
        columns.sort(key=lambda c: -c.score)

        aliases = self._synonyms(reading, evidence, columns, values)
        for table, words in aliases.items():
            note(table, 0.7, f"the question says {' '.join(words)!r}, which the retriever matches to it")

        named = sorted(evidence, key=lambda t: (-evidence[t], self._first_mention(reading, t, aliases)))
        named = [t for t in named if evidence[t] >= 0.5]
        # a junction table (keys only) named by its parents' words ("film categories") only joins them
        named = [t for t in named if not (self._junction(t) and sum(p in named for p in self._parents(t)) >= 1)] or named
        # the prompt's tables, in the order they are shown (and cut at the budget): those the question
        # names, the bridges joining them, their foreign-key neighbours and the tables holding a value it
        # mentions (ranked by the retriever), then the retriever's own picks
        ranked = self._by_meaning(reading.text)
        similarity = dict(ranked)
        joins, bridges = self._joins(named)
        chosen = list(dict.fromkeys([*named, *bridges]))
        for bridge in bridges:
            why.setdefault(bridge, []).append("joins the linked tables")
        nearby = {n for t in named for n, _ in self._graph.get(t, ())}
        nearby |= {p for n in nearby if self._junction(n) for p in self._parents(n)}  # across a junction: playlists → tracks
        nearby |= {v.table for v in values}
        for name in sorted(nearby - set(chosen), key=lambda t: -similarity.get(t, 0.0))[: self.max_neighbours]:
            chosen.append(name)
            why.setdefault(name, []).append(
                "holds a value the question mentions" if any(v.table == name for v in values) else "joined to a linked table"
            )
        extra = 0
        for name, score in ranked:
            if extra >= self.max_tables:
                break
            if name not in chosen:
                chosen.append(name)
                extra += 1
                why.setdefault(name, []).append(f"retriever similarity {score:.2f}")
        linked = [Linked(t, None, evidence.get(t, 0.0), tuple(dict.fromkeys(why.get(t, ())))) for t in chosen]
        labels = {t: tuple(c.name for c in label_columns(tables[t])) for t in chosen if t in tables}
        link = Link(
            reading,
            self.schema,
            linked,
            columns,
            values,
            units,
            joins,
            labels,
            aliases=aliases,
            value_bound=self.values.truncated,
            confident=len(named),
        )
        link.unlinked = self._unlinked(link)
        return link

    def _synonyms(
        self, reading: Reading, evidence: dict[str, float], columns: list[Linked], values: list[ValueHit]
    ) -> dict[str, tuple[str, ...]]:
        """Question nouns no name or value accounts for, matched to a table's name by the retriever
        ("movies" → films) when the match is clear: similarity ≥ SYNONYM_MIN and ahead of the next
        table by SYNONYM_MARGIN (both chosen on the calibration questions, README "Linking")."""
        if self.encoder is None or not self.schema.tables:
            return {}
        covered = {s for t in evidence for s in self._table_stems[t]}
        covered |= {s for c in columns for s in self._column_stems.get((c.table, c.column or ""), ())}
        covered |= {normalize_word(w) for v in values for w in WORD.findall(v.phrase)}
        words = [(w, s) for w, s in zip(reading.words, reading.stems) if s in reading.content and s not in covered and len(w) > 2]
        if not words:
            return {}
        if self._names is None:
            self._load_embeddings()
        vectors = self.encoder.encode([w.lower() for w, _ in words])
        found: dict[str, tuple[str, ...]] = {}
        for (_word, stem), vector in zip(words, vectors):
            scores = self._names @ vector
            order = np.argsort(-scores)[:2]
            best = float(scores[order[0]])
            second = float(scores[order[1]]) if len(order) > 1 else 0.0
            if best >= SYNONYM_MIN and best - second >= SYNONYM_MARGIN:
                table = self.schema.tables[int(order[0])].name
                found[table] = (*found.get(table, ()), stem)
        return found

    @classmethod
    def of(
        cls,
        database: Any,
        settings: LinkingSettings,
        encoder: Any,
        *,
        cache_dir: Path | None,
        schema: DatabaseSchema | None = None,
        describing: Any = None,
        indexing: Any = None,
    ) -> Linker:
        """The linker of an open database: its description (rag.describe; `schema` when already read),
        its value index (rag.values) within the settings' bounds, and the retriever's encoder.
        `describing` / `indexing` are tqdm-like progress wrappers for a large database."""
        schema = schema or describe(database, progress=describing, cache_dir=cache_dir)
        on_disk = disk_cached(
            cache_dir, "values", database, (schema.fingerprint, data_stamp(database), settings.values_per_column, settings.max_values)
        )
        values = on_disk.load()
        if not isinstance(values, ValueIndex):
            values = ValueIndex.build(database, schema, per_column=settings.values_per_column, total=settings.max_values, progress=indexing)
            on_disk.save(values)
        return cls(schema, values, encoder, max_tables=settings.max_tables, cache_dir=cache_dir)

    def prepare(self) -> None:
        """Embed the tables now (or read them from `cache_dir`), rather than on the first question."""
        if self.encoder is not None and self._embeddings is None and self.schema.tables:
            self._load_embeddings()

    def _load_embeddings(self) -> None:
        """The tables' descriptions and names embedded by the encoder: read from `cache_dir` when this
        schema was embedded by this encoder before, else encoded and saved there (atomically)."""
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"{self.schema.fingerprint}-{getattr(self.encoder, 'fingerprint', 'encoder')[:16]}.npz"
            try:
                with np.load(path) as saved:
                    if saved["descriptions"].shape[0] == len(self.schema.tables):
                        self._embeddings, self._names = saved["descriptions"], saved["names"]
                        return
            except (OSError, KeyError, ValueError):
                pass
        self._embeddings = self.encoder.encode([describe_table(t) for t in self.schema.tables])
        self._names = self.encoder.encode([" ".join(split_identifier(t.name)).lower() for t in self.schema.tables])
        if path is not None:
            from rag.io import atomic_path

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                    np.savez(handle, descriptions=self._embeddings, names=self._names)
            except OSError:
                pass  # a cache that cannot be written only costs time

    def _placed(self, hits: list[ValueHit], whole: set[str]) -> list[ValueHit]:
        """Value hits, each phrase kept in the tables it most likely means: one the question names,
        else one joined to a named table within two keys; a phrase stored in many unrelated tables
        keeps them all, weakened (none is invented, none is favoured without evidence)."""
        by_phrase: dict[tuple[int, int], list[ValueHit]] = {}
        for hit in hits:
            weak = self._names_schema(hit.phrase)
            by_phrase.setdefault((hit.start, hit.end), []).append(_weaker(hit) if weak else hit)
        kept: list[ValueHit] = []
        for group in by_phrase.values():
            named = [h for h in group if h.table in whole]
            near = [h for h in group if whole and any(_shortest(self._graph, {h.table}, t, 2) is not None for t in whole)]
            chosen = named or near or group
            if len({h.table for h in chosen}) > 2:
                chosen = [_weaker(h) for h in chosen]
            kept.extend(chosen)
        kept.sort(key=lambda h: (-h.score, h.start))
        return kept

    def _junction(self, table: str) -> bool:
        """A table of keys only, linking two or more others (film_categories, playlist_tracks)."""
        found = next((t for t in self.schema.tables if t.name == table), None)
        return found is not None and len(self._parents(table)) >= 2 and all(c.kind == "key" for c in found.columns)

    def _parents(self, table: str) -> list[str]:
        return [fk.ref_table for fk in self.schema.foreign_keys if fk.table == table and fk.ref_table != table]

    def _names_schema(self, phrase: str) -> bool:
        """Whether a phrase is a table's or column's name (then a value with that text is weak evidence)."""
        stems = phrase_stems(phrase)
        return any(stems == s for s in self._table_stems.values()) or any(stems == s for s in self._column_stems.values())

    def _first_mention(self, reading: Reading, table: str, aliases: dict[str, tuple[str, ...]] | None = None) -> int:
        position = reading.position(self._table_stems.get(table, ()) + (aliases or {}).get(table, ()))
        return len(reading.stems) if position is None else position

    def _by_meaning(self, question: str) -> list[tuple[str, float]]:
        """Tables by the retriever's similarity of the question to their descriptions, best first."""
        if self.encoder is None or not self.schema.tables:
            return []
        if self._embeddings is None:
            self._load_embeddings()
        query = self.encoder.encode([question])[0]
        scores = self._embeddings @ query
        order = np.argsort(-scores)
        return [(self.schema.tables[i].name, float(scores[i])) for i in order]

    def _joins(self, tables: list[str]) -> tuple[list[ForeignKey], list[str]]:
        """Foreign keys connecting `tables` (shortest paths from the first, at most 3 hops each), and
        the bridge tables those paths pass through."""
        if len(tables) < 2:
            return [], []
        joined = {tables[0]}
        links: list[ForeignKey] = []
        bridges: list[str] = []
        for target in tables[1:]:
            if target in joined:
                continue
            path = _shortest(self._graph, joined, target, max_hops=3)
            if path is None:
                continue
            for fk in path:
                if fk not in links:
                    links.append(fk)
                for end in (fk.table, fk.ref_table):
                    if end not in joined and end not in tables:
                        bridges.append(end)
                    joined.add(end)
        return links, bridges

    def _unlinked(self, link: Link) -> tuple[str, ...]:
        """Content words of the question that no linked name, value or number accounts for."""
        covered: set[str] = set()
        for t in link.table_names:
            covered.update(link.words_of(t))
        for c in link.columns:
            covered.update(self._column_stems.get((c.table, c.column or ""), ()))
        for v in link.values:
            covered.update(phrase_stems(v.phrase))
        for u in link.units:
            covered.update(phrase_stems(u.said))
        return tuple(dict.fromkeys(s for s in link.reading.content if s not in covered))


def describe_table(table: Table) -> str:
    """A table in words for the retriever (rag.linking ranks tables by it; synth's schema-linking
    task trains on it): its name and its columns' names, split."""
    return table_document(table.name, [c.name for c in table.columns])


def table_document(name: str, columns: list[str]) -> str:
    """`table_document("InvoiceLines", ["line_id", "unitPrice"])` → 'invoice lines: line id, unit price'."""
    words = ", ".join(" ".join(split_identifier(c)).lower() for c in columns[:30])
    return f"{' '.join(split_identifier(name)).lower()}: {words}"


def _weaker(hit: ValueHit) -> ValueHit:
    """A value hit kept as a candidate but too weak to filter on (compose uses hits from 0.5)."""
    return replace(hit, score=min(hit.score, 0.45))


def _graph(links: tuple[ForeignKey, ...]) -> dict[str, list[tuple[str, ForeignKey]]]:
    graph: dict[str, list[tuple[str, ForeignKey]]] = {}
    for fk in links:
        if fk.table == fk.ref_table:
            continue
        graph.setdefault(fk.table, []).append((fk.ref_table, fk))
        graph.setdefault(fk.ref_table, []).append((fk.table, fk))
    return graph


def _shortest(graph: dict[str, list[tuple[str, ForeignKey]]], sources: set[str], target: str, max_hops: int) -> list[ForeignKey] | None:
    """The fewest foreign keys leading from any of `sources` to `target` (breadth first), or None."""
    queue: deque[tuple[str, list[ForeignKey]]] = deque((s, []) for s in sorted(sources))
    seen = set(sources)
    while queue:
        node, path = queue.popleft()
        if node == target:
            return path
        if len(path) >= max_hops:
            continue
        for neighbour, fk in graph.get(node, ()):
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append((neighbour, [*path, fk]))
    return None


def shortest_path(schema: DatabaseSchema, start: str, target: str, max_hops: int = 3) -> list[ForeignKey] | None:
    """The fewest foreign keys from table `start` to `target` (None when they are not connected)."""
    return _shortest(_graph(schema.foreign_keys), {start}, target, max_hops)
