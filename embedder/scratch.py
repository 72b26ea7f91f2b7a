"""A BERT-style bi-encoder initialised from scratch, and its contrastive loss.

    tokens → BertModel (random init) → masked mean pooling → linear projection → L2 normalisation

The encoder body is transformers' `BertModel`, so a trained model is saved as a standard
sentence-transformers directory (Transformer + Pooling + Dense + Normalize modules) that
`load_encoder`, the index, ONNX export and `SentenceTransformer(path)` all read unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ScratchConfig:
    """Model shape (defaults: the seeds' GPU configuration)."""

    vocab_size: int = 32000
    hidden: int = 512
    layers: int = 8
    heads: int = 8
    ffn: int = 2048
    max_length: int = 256
    embedding_dim: int = 384
    dropout: float = 0.1
    pad_token_id: int = 0

    def bert_config(self) -> Any:
        from transformers import BertConfig

        if self.hidden % self.heads:
            raise ValueError(f"hidden size {self.hidden} is not divisible by {self.heads} heads")
        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            intermediate_size=self.ffn,
            max_position_embeddings=self.max_length,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
            pad_token_id=self.pad_token_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where attention_mask is 1."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class ScratchEncoder(nn.Module):
    def __init__(self, config: ScratchConfig) -> None:
        super().__init__()
        from transformers import BertModel

        self.config = config
        self.bert = BertModel(config.bert_config(), add_pooling_layer=False)
        self.projection = nn.Linear(config.hidden, config.embedding_dim, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(self.projection(mean_pool(tokens, attention_mask)), dim=-1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def contrastive_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    temperature: float = 0.05,
    hard_negative_weight: float = 0.0,
) -> torch.Tensor:
    """Symmetric in-batch InfoNCE, plus an optional hard-negative term.

    ½·[CE(query → documents) + CE(document → queries)] over the batch, and, when `negatives`
    (one per query) are given, `hard_negative_weight`·CE(query → documents ∪ hard negatives).
    All inputs are L2-normalised, so the logits are cosine similarities / temperature.
    """
    labels = torch.arange(queries.shape[0], device=queries.device)
    logits = queries @ documents.T / temperature
    loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    if negatives is not None and hard_negative_weight > 0:
        with_negatives = torch.cat([logits, queries @ negatives.T / temperature], dim=1)
        loss = loss + hard_negative_weight * F.cross_entropy(with_negatives, labels)
    return loss


def save_sentence_transformer(model: ScratchEncoder, tokenizer_dir: Path, out: Path) -> Path:
    """Write `model` as a sentence-transformers directory: Transformer + Pooling + Dense + Normalize."""
    import tempfile

    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import AutoTokenizer

    # AutoModel adds BERT's unused pooler layer on load and reports it as newly initialised; it is not used.
    transformers.logging.set_verbosity_error()
    config = model.config
    with tempfile.TemporaryDirectory(dir=out.parent) as body_dir:
        model.bert.save_pretrained(body_dir)
        AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(body_dir)
        body = Transformer(body_dir, max_seq_length=config.max_length)
        dense = Dense(
            config.hidden,
            config.embedding_dim,
            bias=False,
            activation_function=None,
            init_weight=model.projection.weight.detach().clone().float().cpu(),
        )
        st = SentenceTransformer(modules=[body, Pooling(config.hidden, "mean"), dense, Normalize()], device="cpu")
        st.save(str(out), create_model_card=False)
    return out
