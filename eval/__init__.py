"""Evaluation: EX / EM / EM-AST scoring, retrieval metrics, and the RAG versus no-RAG runner.

scoring     one prediction against one gold query (EX, EM, EM-AST, error category)
execution   the example's database (built once per run), result comparison for EX
exact       EM's normalised text and EM-AST's sqlglot canonical form
relevance   which train examples are relevant to a test question (cached per corpus)
retrieval   Recall@k / MRR@10 of the train-split index for test questions
runner      `coderag eval run`: predictions.jsonl, metrics.json, report.md, the plot
rundir      a run's directory: what it evaluates (RunSpec), predictions.jsonl read back, --resume
answering   each example answered with k examples and with none, scored, appended
report      metrics, the paired bootstrap interval, report.md, the plot, terminal tables
spider_files  `coderag eval score` on Spider-format gold/prediction files
st_evaluator  the retrieval metrics as a sentence-transformers evaluator
"""
