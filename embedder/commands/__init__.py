"""The embedder's commands, one module per idea (embedder/cli.py assembles them):

training.py   finetune, train-scratch (and the old name `train`)
data.py       tokenizer, pairs, mine
serving.py    export-onnx, pack, bench
versions.py   list, use, and the top-level `coderag retrain`
common.py     the consoles, shared options and printing helpers
"""
