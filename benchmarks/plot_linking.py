"""The README's linking picture from `bench_linking.py --out` results: before/after at each schema size.

python benchmarks/plot_linking.py benchmarks/results/linking_heldout.json docs/linking.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = [
    ("link_recall", "gold tables + columns\nin the prompt"),
    ("answered", "answered offline"),
    ("precision", "precision\nwhen answering"),
    ("ex_forced", "EX, always\nanswering"),
]


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    results = json.loads(source.read_text())
    scales = [s for s in ("native", "300", "1000") if s in results]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(12, 3.2), sharey=True)
    for ax, (key, title) in zip(axes, METRICS):
        for offset, arm, color in ((-0.2, "before", "#bbbbbb"), (0.2, "after", "#2b6cb0")):
            values = [results[s][arm][key] or 0.0 for s in scales]
            bars = ax.bar([i + offset for i in range(len(scales))], values, width=0.4, color=color, label=arm)
            if key == "precision":  # over how many answers: a precision of 1.0 over 2 answers says little
                counts = [round(results[s][arm]["answered"] * results[s]["answerable"]) for s in scales]
                ax.bar_label(bars, labels=[f"n={n}" for n in counts], fontsize=7)
        ax.set_xticks(range(len(scales)), ["12-13" if s == "native" else s for s in scales])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("tables in the database", fontsize=8)
        ax.set_ylim(0, 1.1)
    axes[0].legend(fontsize=8, loc="lower left")
    store = "with `db add` stores" if results.get("store") else "no stores"
    fig.suptitle(f"Linking, {results['split']} questions, {store} ({results['date']}, {results['cpus']} CPUs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
