"""The configured encoder and a corpus's index for it, wired from settings in one place.

`TextToSQL.from_settings`, `db add` (synth.db), `retrain` (embedder.retrain) and `index build`
load the embedder and bring the saved index of a corpus up to date through here, so each gets the
same model, the same saved index (keyed by the model's fingerprint and the template) and the same
build options.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.corpus import Example
from rag.encoders import Encoder, encoder_from_settings
from rag.errors import IndexStoreError
from rag.index import VectorIndex, build_options, get_index, index_path
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


def build_index(
    settings: Settings, examples: Sequence[Example], corpus: str, *, encoder: Encoder | None = None, directory: Path | None = None
) -> tuple[VectorIndex, Path]:
    """Embed `examples` into the index at `directory` (default: the corpus's saved index for the
    configured embedder and template) and save it; documents unchanged since an index already
    there keep their vectors, and a broken or foreign index there is simply rebuilt."""
    encoder = encoder or encoder_from_settings(settings)
    template = settings.index.template
    target = directory or index_path(settings, corpus, encoder, template)
    previous = None
    if target.exists():
        try:
            previous = VectorIndex.load(target, encoder)
        except IndexStoreError:
            previous = None
    index = VectorIndex.build(list(examples), encoder, template, corpus=corpus, previous=previous, **build_options(settings))
    index.save(target)
    return index, target
