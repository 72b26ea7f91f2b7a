"""`coderag embedder ...` (finetune, train-scratch, tokenizer, pairs, mine, export-onnx, pack, bench, list, use)
and `coderag retrain`: the embedder package's commands, assembled from embedder/commands/.

Each command loads the settings once (`settings_from_flags`) and hands them, or plain values, to the
library. Heavy modules (torch, sentence-transformers, transformers) are imported inside command
bodies, so importing this module stays cheap.
"""

from __future__ import annotations

import typer

from embedder.commands import data, serving, training, versions

app = typer.Typer(
    no_args_is_help=True, help="Train, export and measure the retrieval embedder.\n\nExample: coderag embedder finetune --data triplets.csv"
)

# training
app.command()(training.finetune)
app.command("train-scratch")(training.train_scratch)
app.command("train", hidden=True, add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    training.train_alias
)
# data and tokenizer
app.command()(data.tokenizer)
app.command()(data.pairs)
app.command()(data.mine)
# serving
app.command("export-onnx")(serving.export_onnx_command)
app.command()(serving.pack)
app.command()(serving.bench)
# versions
app.command("list")(versions.list_versions)
app.command()(versions.use)


def register(root: typer.Typer) -> None:
    """Add `coderag embedder ...` and the top-level `coderag retrain`."""
    root.add_typer(app, name="embedder")
    root.command("retrain")(versions.retrain_command)
