"""From predictions to numbers and pictures: metrics.json, report.md, the EX-by-complexity plot and
the terminal table. Every output is built from the same `metrics` dict and the same table rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.scoring import CATEGORIES

ARMS = ("rag", "no_rag")
ARM_TITLES = {"rag": "RAG", "no_rag": "no-RAG"}
CATEGORY_TITLES = {
    "no_sql": "no SQL",
    "parse_error": "parse error",
    "execution_error": "execution error",
    "timeout": "timeout",
    "wrong_result": "wrong result",
}
UNKNOWN_COMPLEXITY = "n/a"


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for mean(a) − mean(b) over paired examples.

    >>> paired_bootstrap_ci([1, 1, 1, 1], [0, 0, 0, 0])
    (1.0, 1.0)
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // diff.size)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        picks = rng.integers(0, diff.size, size=(size, diff.size))
        means[start : start + size] = diff[picks].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (round(float(low), 4), round(float(high), 4))


def _rate(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def arm_metrics(records: list[dict[str, Any]], arm: str) -> dict[str, Any]:
    """n, EX, EM, EM-AST, error counts, per-complexity numbers and latency for one arm."""
    rows = [r for r in records if r.get(arm)]
    latencies = [r[arm]["latency_ms"] for r in rows if r[arm].get("latency_ms") is not None]
    by_complexity: dict[str, dict[str, Any]] = {}
    for complexity in sorted({r.get("sql_complexity") or UNKNOWN_COMPLEXITY for r in rows}):
        group = [r[arm] for r in rows if (r.get("sql_complexity") or UNKNOWN_COMPLEXITY) == complexity]
        by_complexity[complexity] = {
            "n": len(group),
            "ex": _rate([g["ex"] for g in group]),
            "em": _rate([g["em"] for g in group]),
            "em_ast": _rate([g["em_ast"] for g in group]),
        }
    errors = Counter(r[arm]["error_category"] for r in rows if r[arm]["error_category"])
    return {
        "n": len(rows),
        "ex": _rate([r[arm]["ex"] for r in rows]),
        "em": _rate([r[arm]["em"] for r in rows]),
        "em_ast": _rate([r[arm]["em_ast"] for r in rows]),
        "errors": {c: errors.get(c, 0) for c in CATEGORIES},
        "by_complexity": by_complexity,
        "latency_ms": {
            "mean": round(float(np.mean(latencies)), 1) if latencies else None,
            "p50": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
            "p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        },
    }


def summarize(records: list[dict[str, Any]], *, baseline: bool, min_confidence: float | None = None) -> dict[str, Any]:
    """metrics.json's rag / no_rag / delta / abstention / excluded sections from predictions.jsonl records."""
    scored = [r for r in records if not r.get("excluded")]
    excluded = [r for r in records if r.get("excluded")]
    metrics: dict[str, Any] = {"rag": arm_metrics(scored, "rag")}
    judged = [r for r in scored if r["rag"].get("confidence") is not None]
    if min_confidence is not None and judged:
        metrics["abstention"] = abstention_metrics(judged, min_confidence)
    if baseline:
        metrics["no_rag"] = arm_metrics(scored, "no_rag")
        paired = [r for r in scored if r.get("rag") and r.get("no_rag")]
        rag_ex = [float(r["rag"]["ex"]) for r in paired]
        base_ex = [float(r["no_rag"]["ex"]) for r in paired]
        metrics["delta"] = {
            "ex": round(metrics["rag"]["ex"] - metrics["no_rag"]["ex"], 4),
            "em": round(metrics["rag"]["em"] - metrics["no_rag"]["em"], 4),
            "em_ast": round(metrics["rag"]["em_ast"] - metrics["no_rag"]["em_ast"], 4),
            "ex_ci95": list(paired_bootstrap_ci(rag_ex, base_ex)),
            "rag_only_correct": sum(1 for r in paired if r["rag"]["ex"] and not r["no_rag"]["ex"]),
            "no_rag_only_correct": sum(1 for r in paired if r["no_rag"]["ex"] and not r["rag"]["ex"]),
        }
    reasons = Counter(str(r["excluded"]).split(":", 1)[0] for r in excluded)
    metrics["excluded"] = {"n": len(excluded), "reasons": dict(reasons), "ids": [r["id"] for r in excluded]}
    return metrics


def abstention_metrics(records: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """knn answers only at confidence >= threshold: how many it answers (coverage) and how many of
    those are right (precision); `ex` counts an abstention as not answered."""
    answered = [r for r in records if r["rag"]["confidence"] >= threshold]
    right = sum(1 for r in answered if r["rag"]["ex"])
    return {
        "threshold": threshold,
        "n": len(records),
        "coverage": round(len(answered) / len(records), 4),
        "precision": round(right / len(answered), 4) if answered else None,
        "ex": round(right / len(records), 4),
    }


# --- tables shared by report.md and the terminal ------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _signed(value: float) -> str:
    return f"{100 * value:+.1f}"


def _arm_title(metrics: dict[str, Any], arm: str) -> str:
    k = metrics.get("config", {}).get("k")
    return f"{ARM_TITLES[arm]} (k={k if arm == 'rag' else 0})" if k is not None else ARM_TITLES[arm]


def overall_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["", "n", "EX %", "EM %", "EM-AST %", "latency p50 ms"]
    rows = []
    for arm in ARMS:
        if arm not in metrics:
            continue
        m = metrics[arm]
        latency = m["latency_ms"]["p50"]
        rows.append(
            [
                _arm_title(metrics, arm),
                str(m["n"]),
                _pct(m["ex"]),
                _pct(m["em"]),
                _pct(m["em_ast"]),
                "–" if latency is None else f"{latency:.0f}",
            ]
        )
    if "delta" in metrics:
        d = metrics["delta"]
        low, high = d["ex_ci95"]
        rows.append(
            ["Δ RAG − no-RAG", "", f"{_signed(d['ex'])} [{_signed(low)}, {_signed(high)}]", _signed(d["em"]), _signed(d["em_ast"]), ""]
        )
    return headers, rows


def errors_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    headers = ["", *CATEGORY_TITLES.values()]
    rows = [[_arm_title(metrics, arm)] + [str(metrics[arm]["errors"][c]) for c in CATEGORIES] for arm in ARMS if arm in metrics]
    return headers, rows


def complexity_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    arms = [a for a in ARMS if a in metrics]
    headers = ["sql_complexity", "n"] + [f"EX {ARM_TITLES[a]} %" for a in arms] + [f"EM {ARM_TITLES[a]} %" for a in arms]
    if len(arms) == 2:
        headers.insert(2 + len(arms), "Δ EX")
    rows = []
    for complexity, first in metrics["rag"]["by_complexity"].items():
        per_arm = [metrics[a]["by_complexity"].get(complexity, {}) for a in arms]
        row = [complexity, str(first["n"])] + [_pct(m.get("ex")) for m in per_arm]
        if len(arms) == 2:
            row.append(_signed(per_arm[0].get("ex", 0) - per_arm[1].get("ex", 0)))
        rows.append(row + [_pct(m.get("em")) for m in per_arm])
    return headers, rows


def retrieval_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    r = metrics.get("retrieval") or {}
    names = ["recall@1", "recall@3", "mrr@10", "accuracy@1", "accuracy@3"]
    headers = ["queries", *names, "without a relevant example"]
    if not r:
        return headers, []
    return headers, [[str(int(r["queries"])), *(f"{r[n]:.3f}" for n in names), str(int(r["queries_without_relevant"]))]]


def engine_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """EX on the other engine against SQLite's over the same questions (eval.engines)."""
    e = metrics.get("engine") or {}
    headers = ["", "scored", f"EX {e.get('engine', 'engine')} %", "EX SQLite %", "carried over %", "gold failed there"]
    rows = [
        [
            ARM_TITLES[arm],
            str(e["scored"]),
            _pct(e["ex"][arm]),
            _pct(e["ex_sqlite"][arm]),
            _pct(e["carried_over"][arm]),
            str(e["gold_failed"]),
        ]
        for arm in ARMS
        if arm in e.get("ex", {})
    ]
    return headers, rows


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


def render_report(metrics: dict[str, Any], plot_name: str | None) -> str:
    """report.md: RAG against no-RAG overall and by complexity, errors, retrieval, exclusions, config."""
    config = metrics.get("config", {})
    parts = [
        "# Evaluation report",
        "",
        f"Corpus `{config.get('corpus')}`, split `{config.get('split')}`, generator `{config.get('generator_name')}`, "
        f"embedder `{config.get('embedder')}`, template `{config.get('template')}`.",
        "",
        "## Overall",
        "",
        markdown_table(*overall_table(metrics)),
        "",
        "EX: execution accuracy (result sets compared on the example's database); EM: normalised string match; "
        "EM-AST: match of sqlglot-canonicalised trees.",
    ]
    if "delta" in metrics:
        d = metrics["delta"]
        parts += [
            "",
            f"Δ EX is RAG − no-RAG in points with a paired bootstrap 95% confidence interval (10,000 resamples). "
            f"RAG alone was right on {d['rag_only_correct']} examples, no-RAG alone on {d['no_rag_only_correct']}.",
        ]
    parts += ["", "## Errors", "", "Misses by category.", "", markdown_table(*errors_table(metrics))]
    parts += ["", "## By sql_complexity", "", markdown_table(*complexity_table(metrics))]
    if plot_name:
        parts += ["", f"![EX by complexity]({plot_name})"]
    linking = metrics.get("linking")
    if linking:
        parts += [
            "",
            "## Linking (rag.linking)",
            "",
            markdown_table(
                [
                    "answers",
                    "gold tables linked",
                    "gold columns in linked tables",
                    "gold values matched",
                    "tables linked",
                    "prompt chars",
                    "composed answers",
                ],
                [
                    [
                        str(linking["n"]),
                        f"{100 * linking['table_recall']:.1f}%",
                        f"{100 * linking['column_recall']:.1f}%",
                        "–" if linking["value_recall"] is None else f"{100 * linking['value_recall']:.1f}%",
                        str(linking["tables_linked"]),
                        "–" if linking["prompt_chars"] is None else f"{linking['prompt_chars']:,.0f}",
                        str(linking["composed"]),
                    ]
                ],
            ),
            "",
            "Recall: every table / column / string literal of the gold SQL is among what the question was linked to.",
        ]
    headers, rows = retrieval_table(metrics)
    if rows:
        parts += [
            "",
            "## Retrieval (train split index, test questions)",
            "",
            markdown_table(headers, rows),
            "",
            "Relevant: a train example whose SQL is execution-equivalent on the question's database or has the same SQL skeleton.",
        ]
    headers, rows = engine_table(metrics)
    if rows:
        e = metrics["engine"]
        parts += [
            "",
            f"## On {e['engine']} ({e['url']})",
            "",
            markdown_table(headers, rows),
            "",
            "Each test database copied into the engine, the gold and predicted SQL transpiled from SQLite and run there; "
            "carried over: the SQLite-right answers that are right there too."
            + (f" Errors there: {e['errors']}." if e.get("errors") else ""),
        ]
    excluded = metrics.get("excluded", {})
    if excluded.get("n"):
        reasons = ", ".join(f"{reason}: {count}" for reason, count in excluded["reasons"].items())
        parts += ["", "## Excluded", "", f"{excluded['n']} examples whose gold query cannot run were left out ({reasons})."]
    parts += ["", "## Configuration", "", "```json", _json(config), "```", ""]
    return "\n".join(parts)


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def plot_ex_by_complexity(metrics: dict[str, Any], path: Path) -> None:
    """Grouped bars of EX per sql_complexity for RAG and no-RAG (matplotlib, Agg canvas, no GUI)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arms = [a for a in ARMS if a in metrics]
    groups = list(metrics["rag"]["by_complexity"]) + ["overall"]
    figure = Figure(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / len(arms)
    positions = np.arange(len(groups))
    for offset, arm in enumerate(arms):
        values = [100 * metrics[arm]["by_complexity"].get(g, {}).get("ex", 0.0) for g in groups[:-1]] + [100 * metrics[arm]["ex"]]
        bars = axes.bar(positions + (offset - (len(arms) - 1) / 2) * width, values, width, label=ARM_TITLES[arm])
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    counts = [metrics["rag"]["by_complexity"][g]["n"] for g in groups[:-1]] + [metrics["rag"]["n"]]
    axes.set_xticks(positions, [f"{g}\n(n={n})" for g, n in zip(groups, counts)], fontsize=8)
    axes.set_ylabel("EX (%)")
    axes.set_ylim(0, 105)
    config = metrics.get("config", {})
    axes.set_title(
        f"Execution accuracy by complexity — {config.get('corpus', '')} {config.get('split', '')}, {config.get('generator_name', '')}",
        fontsize=10,
    )
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, format="png")
    tmp.replace(path)


def print_tables(metrics: dict[str, Any], console: Any) -> None:
    """The report's tables on the terminal (rich)."""
    from rich.table import Table

    for title, (headers, rows) in (
        ("RAG vs no-RAG", overall_table(metrics)),
        ("Errors", errors_table(metrics)),
        ("EX by sql_complexity", complexity_table(metrics)),
        ("Retrieval", retrieval_table(metrics)),
        (f"On {metrics.get('engine', {}).get('engine', 'another engine')}", engine_table(metrics)),
    ):
        if not rows:
            continue
        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    excluded = metrics.get("excluded", {})
    if excluded.get("n"):
        console.print(f"[yellow]{excluded['n']} examples excluded[/] (gold query cannot run): {excluded['reasons']}")
