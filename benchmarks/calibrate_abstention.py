"""Calibrate knn's abstention (rag.abstain) on questions the synthesizer never saw, and measure
what a user gets from `coderag db add` + `coderag ask` without an LLM.

    HF_HUB_OFFLINE=1 python benchmarks/calibrate_abstention.py [--max-examples 2000] [--plot docs/abstention.png]

Three groups of databases, each with its own questions: the two demo databases (their
hand-written question stores) and the bundled corpus' test databases (one question each). For
every database the store is what `db add` synthesizes (`eval.stores`), never a test question.
For every question: the retrieved examples (the serving encoder and template), whether the
closest example's SQL returns the gold result (eval's EX equality), and the evidence of
`rag.abstain`. Printed per group: coverage (some stored example is right), recall@3, knn EX.

The logistic weights are fitted leave-one-group-out: fit on two groups, pick the threshold that
keeps precision >= --target-precision there with the most answers, and report precision and
coverage on the held-out group. The weights to ship are then fitted on all three groups.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from eval.stores import database_file, synthesized_store  # noqa: E402
from rag.abstain import Evidence, gather  # noqa: E402
from rag.adapt import AdaptLimits, adapt  # noqa: E402
from rag.corpus import demo_db_path, load_bundled, load_demo_examples  # noqa: E402
from rag.encoders import encoder_from_settings  # noqa: E402
from rag.execution import DatabaseCache, DatabaseSource, has_top_level_order_by  # noqa: E402
from rag.index import VectorIndex  # noqa: E402
from rag.io import read_jsonl  # noqa: E402
from rag.masking import vocabulary_of  # noqa: E402
from rag.retriever import ExampleRetriever  # noqa: E402
from rag.sandbox import ReadOnlyDatabase  # noqa: E402
from rag.settings import load_settings  # noqa: E402

FEATURES = [name for name in Evidence.__dataclass_fields__]
console = Console()


def question_sets(home: Path, bundled_databases: int) -> dict[str, list[tuple[str, str, str, Path]]]:
    """group → [(db_id, question, gold sql, database file)]; the first `bundled_databases` bundled test databases.

    `taught` asks the demo questions again with every *other* hand-written example in the store too
    (what a database looks like after people taught it): a paraphrase may then be there to reuse."""
    groups: dict[str, list[tuple[str, str, str, Path]]] = {}
    for name in ("bookshop", "clinic"):
        path = demo_db_path(name, home)
        groups[name] = [(name, e.question, e.sql, path) for e in load_demo_examples(name)]
    groups["taught"] = [(f"{name}+taught", q, sql, path) for name in ("bookshop", "clinic") for (_, q, sql, path) in groups[name]]
    bundled = load_bundled("test")[:bundled_databases]
    groups["bundled-test"] = [(e.db_id, e.question, e.sql, database_file(e, home)) for e in bundled]
    groups["simple"] = simple_questions(home)
    return groups


def simple_questions(home: Path) -> list[tuple[str, str, str, Path]]:
    """Everyday questions written for this benchmark (benchmarks/data/simple_questions.jsonl) about two
    of the test fixtures' databases (tests/fixtures/grounded), which the synthesizer's rules never saw."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures.grounded.databases import make_school, make_warehouse

    paths = {name: make(home / "calibration" / f"{name}.sqlite") for name, make in (("school", make_school), ("warehouse", make_warehouse))}
    return [
        (row["db"], row["question"], row["sql"], paths[row["db"]])
        for row in read_jsonl(ROOT / "benchmarks" / "data" / "simple_questions.jsonl")
    ]


def measure(group: list[tuple[str, str, str, Path]], settings, encoder, max_examples: int, *, adapting: bool = True) -> list[dict]:
    """Per question: the knn answer's correctness and its evidence, and whether the store covers it.
    With `adapting` (the default, as `ask` does) the answer is rag.adapt's choice among the closest
    examples' adaptations, and the evidence is the chosen candidate's."""
    rows = []
    stores: dict[str, list] = {}
    for db_id, _, _, path in group:
        if db_id not in stores:
            stores[db_id] = synthesized_store(db_id, path, settings.home, max_examples=max_examples)
            if db_id.endswith("+taught"):
                demo = db_id.removesuffix("+taught")
                stores[db_id] += [replace(e, db_id=db_id, meta={"origin": "person"}) for e in load_demo_examples(demo, path)]
    examples = [e for store in stores.values() for e in store]
    index = VectorIndex.build(
        examples, encoder, settings.index.template, corpus="calibration", batch_size=settings.embedder.batch_size, show_progress=True
    )
    retriever = ExampleRetriever(index=index, encoder=encoder, k=3)
    opened: dict[Path, tuple[ReadOnlyDatabase, object]] = {}
    limits = AdaptLimits(sketches=settings.adapt.sketches, max_candidates=settings.adapt.max_candidates, budget_s=settings.adapt.budget_s)
    with DatabaseCache(timeout_s=settings.execution.timeout_s, result_capacity=65_536) as cache:
        for db_id, question, gold, path in group:
            store = stores[db_id]
            if not store:
                rows.append({"db": db_id, "answered": False, "right": False, "covered": False, "recall3": False})
                continue
            source = DatabaseSource(path=str(path))
            ordered = has_top_level_order_by(gold)
            hits = [h for h in retriever.search(question, 9, db_id) if h.document.question != question][:8]  # never itself
            candidates = {e.sql for e in store if e.question != question}
            right = {sql for sql in candidates if cache.same_result(source, gold, sql, ordered=ordered)}
            evidence = gather(question, hits)
            answer_sql, edits = hits[0].document.sql, 0
            if adapting and hits:
                if path not in opened:
                    database = ReadOnlyDatabase.open(path, timeout_s=settings.execution.timeout_s)
                    opened[path] = (database, vocabulary_of(database))
                chosen = adapt(question, hits, opened[path][0], opened[path][1], limits)
                if chosen is not None:
                    answer_sql, evidence, edits = chosen.sql, chosen.evidence, len(chosen.edits)
            rows.append(
                {
                    "db": db_id,
                    "answered": True,
                    "adapted": edits,
                    "right": answer_sql in right or (edits > 0 and cache.same_result(source, gold, answer_sql, ordered=ordered)),
                    "covered": bool(right),
                    "recall3": bool(right & {h.document.sql for h in hits[:3]}),
                    **(asdict(evidence) if evidence else {}),
                }
            )
    for database, _ in opened.values():
        database.close()
    return rows


def fit(rows: list[dict], features: list[str] = FEATURES):
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r[f] for f in features] for r in rows])
    y = np.array([int(r["right"]) for r in rows])
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(x, y)
    model.features = features
    return model


def probabilities(model, rows: list[dict]) -> np.ndarray:
    return model.predict_proba(np.array([[r[f] for f in model.features] for r in rows]))[:, 1]


def pick_threshold(p: np.ndarray, right: np.ndarray, target: float) -> float:
    """The lowest threshold whose answers are right at least `target` of the time (the most answers);
    where no threshold reaches it, the one with the best F0.5 of "answers exactly the right ones"
    (precision weighted over recall: a wrong answer costs more than an abstention)."""
    candidates = np.unique(np.round(p, 3))
    for threshold in candidates:
        answered = p >= threshold
        if answered.any() and right[answered].mean() >= target:
            return float(threshold)
    return max(candidates, key=lambda t: _f_half(p >= t, right), default=1.0)


def _f_half(answered: np.ndarray, right: np.ndarray) -> float:
    hits = float((answered & right.astype(bool)).sum())
    if hits == 0:
        return 0.0
    precision, recall = hits / answered.sum(), hits / max(1, right.sum())
    return 1.25 * precision * recall / (0.25 * precision + recall)


def precision_coverage(p: np.ndarray, right: np.ndarray, threshold: float) -> tuple[float | None, float]:
    answered = p >= threshold
    return (float(right[answered].mean()) if answered.any() else None), float(answered.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=1000, help="examples synthesized per demo database")
    parser.add_argument("--bundled-max-examples", type=int, default=100, help="per bundled test database (1-3 small tables each)")
    parser.add_argument("--bundled-databases", type=int, default=40, help="how many bundled test databases (one question each)")
    parser.add_argument("--target-precision", type=float, default=0.8)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the per-question rows and results here")
    parser.add_argument("--rows", type=Path, default=None, help="reuse the rows of groups measured before (a --json file)")
    parser.add_argument(
        "--no-adapt", action="store_true", help="knn replays the closest example's SQL (no rag.adapt), as before adaptation"
    )
    parser.add_argument(
        "--groups", nargs="*", default=None, help="measure only these groups (bookshop clinic taught bundled-test simple); no fit"
    )
    args = parser.parse_args()
    settings = load_settings()
    encoder = encoder_from_settings(settings)
    started = time.perf_counter()
    reused = json.loads(args.rows.read_text())["groups"] if args.rows else {}
    groups = {
        name: reused.get(name)
        or measure(
            group, settings, encoder, args.bundled_max_examples if name == "bundled-test" else args.max_examples, adapting=not args.no_adapt
        )
        for name, group in question_sets(settings.home, args.bundled_databases).items()
        if args.groups is None or name in args.groups
    }

    table = Table(title=f"knn on synthesized stores (embedder {encoder.name}, template {settings.index.template})")
    for column in ("group", "questions", "coverage", "recall@3", "knn EX"):
        table.add_column(column, justify="right" if column != "group" else "left")
    for name, rows in groups.items():
        n = len(rows)
        table.add_row(name, str(n), *(f"{sum(r[key] for r in rows) / n:.3f}" for key in ("covered", "recall3", "right")))
    console.print(table)
    if args.groups is not None:
        return

    answered = {name: [r for r in rows if r["answered"]] for name, rows in groups.items()}
    feature_sets = {
        "all signals": FEATURES,
        "without shape": [f for f in FEATURES if f != "shape"],
        "without schema words or shape": [f for f in FEATURES if not f.endswith("_words") and f != "shape"],
        "similarity only": ["similarity"],
    }
    held_out = Table(title=f"abstention, leave one group out (target precision {args.target_precision:.2f} on the fitting groups)")
    for column in ("signals", "held-out group", "threshold", "precision", "coverage", "EX with abstention"):
        held_out.add_column(column, justify="right" if column not in ("held-out group", "signals") else "left")
    for label, features in feature_sets.items():
        for name in groups:
            fitting = [r for other, rows in answered.items() if other != name for r in rows]
            model = fit(fitting, features)
            threshold = pick_threshold(probabilities(model, fitting), np.array([r["right"] for r in fitting]), args.target_precision)
            p, right = probabilities(model, answered[name]), np.array([r["right"] for r in answered[name]])
            precision, coverage = precision_coverage(p, right, threshold)
            ex = float(right[p >= threshold].sum()) / len(groups[name])
            held_out.add_row(
                label, name, f"{threshold:.3f}", "–" if precision is None else f"{precision:.3f}", f"{coverage:.3f}", f"{ex:.3f}"
            )
    console.print(held_out)

    everything = [r for rows in answered.values() for r in rows]
    model = fit(everything)
    p_all, right_all = probabilities(model, everything), np.array([r["right"] for r in everything])
    threshold = pick_threshold(p_all, right_all, args.target_precision)
    weights = {"bias": round(float(model.intercept_[0]), 3), **{f: round(float(w), 3) for f, w in zip(FEATURES, model.coef_[0])}}
    reached = precision_coverage(p_all, right_all, threshold)[0] or 0.0
    how = (
        f"precision >= {args.target_precision}"
        if reached >= args.target_precision
        else f"best F0.5: precision {args.target_precision} is out of reach"
    )
    console.print(f"weights to ship (all groups): {json.dumps(weights)}; threshold {threshold:.3f} ({how})")
    precision, coverage = precision_coverage(p_all, right_all, threshold)
    console.print(
        f"in-sample at that threshold: precision {precision if precision is None else round(precision, 3)}, coverage {coverage:.3f}; {time.perf_counter() - started:.0f} s"
    )

    if args.plot:
        _plot(args.plot, p_all, right_all, threshold)
    if args.json:
        args.json.write_text(json.dumps({"groups": groups, "weights": weights, "threshold": threshold}, default=float))


def _plot(path: Path, p: np.ndarray, right: np.ndarray, chosen: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = np.linspace(0, 1, 101)
    curve = [precision_coverage(p, right, t) for t in thresholds]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([c for _, c in curve], [pr if pr is not None else np.nan for pr, _ in curve], label="knn with abstention")
    precision, coverage = precision_coverage(p, right, chosen)
    ax.scatter([coverage], [precision], color="red", zorder=3, label=f"shipped threshold {chosen:.2f}")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("precision (share of answers that are right)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
