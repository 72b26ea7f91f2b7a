"""Foreign keys of a database: the declared ones, and links inferred from matching key names where
the schema declares none (`orders.customer_id` → `customers.customer_id`, `author_id` → `authors.id`),
kept when the sampled values agree; join paths are the one- and two-hop walks along them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rag.engines import Database
from rag.sampling import on_server, query_rows
from rag.schema import Column, ForeignKey, JoinPath, Table, is_key_name, key_stem, quote_identifier
from rag.words import words

_MAX_JOIN_PATHS = 2_000


def declared_foreign_keys(db: Database, name: str, tables: list[Table]) -> list[ForeignKey]:
    """The table's FOREIGN KEY clauses whose parent exists (a missing parent column means its key)."""
    known = {t.name.lower(): t for t in tables}
    if on_server(db):  # the rows PRAGMA foreign_key_list would give
        rows = [
            (i, j, parent, mine, theirs)
            for i, (parent, cols, refs) in enumerate(db.foreign_keys(name))
            for j, (mine, theirs) in enumerate(zip(cols, refs))
        ]
    else:
        rows = query_rows(db, f"PRAGMA foreign_key_list({quote_identifier(name)})") or []
    # id, seq, table, from, to, on_update, on_delete, match
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(int(row[0]), []).append(row)
    found = []
    for _, parts in sorted(grouped.items()):
        parts.sort(key=lambda r: r[1])
        parent = known.get(str(parts[0][2]).lower())
        if parent is None:
            continue
        columns = tuple(str(r[3]) for r in parts)
        refs = tuple(str(r[4]) for r in parts) if all(r[4] for r in parts) else parent.primary_key
        if len(refs) != len(columns) or not all(any(c.name == r for c in parent.columns) for r in refs):
            continue
        found.append(ForeignKey(name, columns, parent.name, refs))
    return found


def mark_keys(tables: list[Table], links: list[ForeignKey]) -> list[Table]:
    """Columns that take part in a foreign key are keys, whatever their values look like."""
    linked = {(fk.table, c) for fk in links for c in fk.columns} | {(fk.ref_table, c) for fk in links for c in fk.ref_columns}
    return [
        replace(table, columns=tuple(replace(c, kind="key") if (table.name, c.name) in linked else c for c in table.columns))
        for table in tables
    ]


def infer_foreign_keys(db: Database, tables: list[Table], declared: list[ForeignKey]) -> list[ForeignKey]:
    """Links by matching key names where the schema declares none, kept when sampled values agree.

    `A.x_id` refers to B when B's key is also called `x_id`, or when B is the table of x's
    (`author_id` → authors) and its key is `id`. B's key is its one-column primary key or, in a
    table without one, a same-named column whose sampled values are unique.
    """
    linked = {(fk.table, fk.columns) for fk in declared} | {(fk.ref_table, fk.ref_columns) for fk in declared}
    pairs = {frozenset((fk.table, fk.ref_table)) for fk in declared}
    stems = {t.name: _stems(t) for t in tables}
    named_after: dict[str, list[Table]] = {}  # a stem → the tables it names
    keyed: dict[str, list[Table]] = {}  # a key column's name → the tables holding it
    for t in tables:
        for stem in stems[t.name]:
            named_after.setdefault(stem, []).append(t)
        for c in t.columns:
            keyed.setdefault(c.name.lower(), []).append(t)
    found: list[ForeignKey] = []
    for table in tables:
        for column in table.columns:
            stem = key_stem(column.name)
            if not stem or (table.name, (column.name,)) in linked:
                continue
            # the table named after the key first ("part_id" → parts), then those holding a key of the
            # same name or of the name's ending (start_station_id → station_id), in schema order
            parts = column.name.lower().split("_")
            suffixes = ["_".join(parts[i:]) for i in range(len(parts) - 1)]
            candidates = [
                *named_after.get(stem, ()),
                *named_after.get(stem.split(" ")[-1], ()),
                *(t for s in suffixes for t in keyed.get(s, ())),
            ]
            for parent in dict.fromkeys(candidates):
                if parent is table or frozenset((table.name, parent.name)) in pairs:
                    continue
                target = _referenced_key(column.name, stem, parent)
                if target is None:
                    continue
                sole_pk = table.primary_key == (column.name,)
                if sole_pk and stem not in stems[parent.name]:
                    continue  # two tables keyed by the same name: link toward the table it names
                if _values_agree(db, column, parent, target):
                    found.append(ForeignKey(table.name, (column.name,), parent.name, (target.name,), inferred=True))
                    pairs.add(frozenset((table.name, parent.name)))
                    break
    return found


def _stems(table: Table) -> set[str]:
    return {table.noun.singular.lower(), table.noun.plural.lower(), " ".join(words(table.name)).lower()}


def _referenced_key(name: str, stem: str, parent: Table) -> Column | None:
    """The parent's key that `name` refers to: the same name, `id` in the table `stem` names, or a
    role in front of the key's name (`start_station_id` → `station_id`, `home_city_id` → cities)."""
    lowered = name.lower()
    for candidate in parent.columns:
        key = candidate.name.lower()
        same_name = key == lowered
        named_after = key == "id" and (stem in _stems(parent) or stem.split(" ")[-1] in _stems(parent))
        role = is_key_name(candidate.name) and key != "id" and lowered.endswith("_" + key)
        if not (same_name or named_after or role):
            continue
        if parent.primary_key == (candidate.name,) or (not parent.primary_key and (candidate.unique or parent.rows == 0)):
            return candidate
    return None


def _values_agree(db: Database, column: Column, parent: Table, target: Column) -> bool:
    """At least half of a few sampled values of `column` occur in `parent.target` (true when
    there is nothing to compare)."""
    probe = [v for v in column.values if isinstance(v, (int, str))][:5]
    if not probe or parent.rows == 0:
        return True
    listed = ", ".join(str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in probe)
    rows = query_rows(
        db,
        f"SELECT count(DISTINCT {quote_identifier(target.name)}) FROM {quote_identifier(parent.name)} "
        f"WHERE {quote_identifier(target.name)} IN ({listed})",
    )
    if not rows:
        return False
    return 2 * int(rows[0][0]) >= len(probe)


def join_paths(links: tuple[ForeignKey, ...]) -> tuple[JoinPath, ...]:
    """Every one-hop link (self-references left out) and two-hop walks A–B–C through a shared
    table, each walk once (not also reversed); at most `_MAX_JOIN_PATHS`."""
    edges = [fk for fk in links if fk.table != fk.ref_table]
    paths = [JoinPath((fk.table, fk.ref_table), (fk,)) for fk in edges]
    seen: set[tuple[str, ...]] = set()
    for i, first in enumerate(edges):
        for second in edges[i + 1 :]:
            if len(paths) >= _MAX_JOIN_PATHS:
                return tuple(paths)
            shared = {first.table, first.ref_table} & {second.table, second.ref_table}
            if len(shared) != 1:
                continue
            middle = shared.pop()
            start = first.ref_table if first.table == middle else first.table
            end = second.ref_table if second.table == middle else second.table
            if len({start, middle, end}) < 3 or (start, middle, end) in seen:
                continue
            seen.update({(start, middle, end), (end, middle, start)})
            paths.append(JoinPath((start, middle, end), (first, second)))
    return tuple(paths)
