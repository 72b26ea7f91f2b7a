"""Which document template retrieves best? Two measurements in one run, for every template:

1. bundled: `eval.retrieval.evaluate_retrieval` on the bundled test split (index = train split;
   relevant = execution-equivalent SQL or the same SQL skeleton; see README "Retrieval metrics").
2. demo paraphrases: leave-one-out over the demo databases' example stores; for each stored
   question, the other examples of the same database are ranked, and the relevant ones are those
   whose SQL returns the same result on that database (its paraphrases). This is what `coderag ask`
   and the UI do on a demo database.

    .venv/bin/python benchmarks/compare_templates.py [--embedder bundled|DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

from eval.retrieval import evaluate_retrieval, retrieval_metrics
from rag.corpus import Example, demo_examples
from rag.documents import TEMPLATES, render
from rag.encoders import load_encoder
from rag.execution import results_match
from rag.sandbox import ReadOnlyDatabase
from rag.settings import load_settings


def demo_paraphrase_metrics(encoder, template: str, examples, relevant) -> dict[str, float]:
    questions = encoder.encode([e.question for e in examples])
    documents = encoder.encode([render(e, template) for e in examples])
    similarities = questions @ documents.T
    rankings = []
    for i, example in enumerate(examples):
        order = [j for j in np.argsort(-similarities[i]) if j != i and examples[j].db_id == example.db_id][:10]
        rankings.append([examples[j].id for j in order])
    return retrieval_metrics(rankings, relevant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="bundled")
    args = parser.parse_args()
    settings = load_settings()
    encoder = load_encoder(args.embedder)

    examples = demo_examples(settings.home)
    results = {}
    for example in examples:
        with ReadOnlyDatabase.open(example.db_path) as db:
            results[example.id] = db.execute(example.sql, max_rows=1_000_000)

    def same_rows(a: Example, b: Example) -> bool:  # the one "same result" (rag.execution), order aside
        return a.db_id == b.db_id and results_match(results[a.id], results[b.id], ordered=False)

    relevant = [{o.id for o in examples if o.id != e.id and same_rows(e, o)} for e in examples]

    table = Table(title=f"Document templates, embedder {encoder.name}")
    for column in ("template", "bundled R@1", "bundled R@3", "bundled MRR@10", "demo acc@1", "demo R@3", "demo MRR@10"):
        table.add_column(column, justify="right" if column != "template" else "left")
    bundled_queries = 0
    for template in TEMPLATES:
        bundled = evaluate_retrieval(encoder, "bundled", settings=settings, template=template)
        bundled_queries = int(bundled["queries"])
        demo = demo_paraphrase_metrics(encoder, template, examples, relevant)
        table.add_row(
            template,
            f"{bundled['recall@1']:.3f}",
            f"{bundled['recall@3']:.3f}",
            f"{bundled['mrr@10']:.3f}",
            f"{demo['accuracy@1']:.3f}",
            f"{demo['recall@3']:.3f}",
            f"{demo['mrr@10']:.3f}",
        )
    console = Console(width=140)
    console.print(table)
    console.print(
        f"bundled: {bundled_queries} test questions with a relevant train example; "
        f"demo: {sum(1 for r in relevant if r)} stored questions with a paraphrase"
    )


if __name__ == "__main__":
    main()
