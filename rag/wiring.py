"""The configured encoder and a corpus's index for it, wired from settings in one place.

`db add` (synth.db) and `retrain` (embedder.retrain) load the embedder and bring
the saved index of a corpus up to date through here, so each gets the same model, the same saved
index (keyed by the model's fingerprint and the template) and the same build options as
`TextToSQL.from_settings`.
"""

from __future__ import annotations

from rag.encoders import Encoder, encoder_from_settings
from rag.index import VectorIndex, get_index
from rag.settings import Settings


def encoder_and_index(
    settings: Settings,
    corpus: str = "default",
    *,
    encoder: Encoder | None = None,
    template: str | None = None,
    split: str | None = "train",
    rebuild: bool = False,
    show_progress: bool = True,
) -> tuple[Encoder, VectorIndex]:
    """`encoder` (or the configured one) and the index of `corpus` for it: loaded, or built and
    saved when missing, stale (the corpus changed: only changed documents are embedded) or `rebuild`."""
    encoder = encoder or encoder_from_settings(settings)
    index = get_index(settings, encoder, corpus, template=template, split=split, rebuild=rebuild, show_progress=show_progress)
    return encoder, index
