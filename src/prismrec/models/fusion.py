"""The item tower: every content modality projected to ``embedding_dim``, then gated fusion.

Modalities: a pretrained text vector (through a whitening mixture-of-experts adaptor), categorical
and multi-valued categorical fields (embedding bags), numeric fields (with presence masks) and
precomputed vectors such as image or audio embeddings. Any modality may be missing for any item;
the gate sees which are present and mixes only those. An optional ID embedding is added for warm
items; ID dropout (training only) makes the content path stand on its own, so an item never seen
in training (no ID) still gets a useful vector from content alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from prismrec.errors import ConfigError
from prismrec.models.adaptor import MoEAdaptor

__all__ = ["ItemInputs", "ItemTower"]


@dataclass
class ItemInputs:
    """Content inputs for N items; every tensor's first dimension is N.

    Attributes:
        text: (N, D_text) pretrained text vectors.
        text_mask: (N,) bool, True where the item has text (default: all True).
        categorical: field -> (N, L) int64 index bags; 0 is padding / unknown.
        numeric: (N, F) normalised numeric values.
        numeric_mask: (N, F) bool, True where a value is present (default: all True).
        vectors: modality -> (N, D_m) precomputed vectors.
        vector_masks: modality -> (N,) bool (default: all True).
        item_ids: (N,) int64 ID-embedding rows; 0 (or out of range) means no ID: a cold item.
    """

    text: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None
    categorical: dict[str, torch.Tensor] = field(default_factory=dict)
    numeric: torch.Tensor | None = None
    numeric_mask: torch.Tensor | None = None
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)
    vector_masks: dict[str, torch.Tensor] = field(default_factory=dict)
    item_ids: torch.Tensor | None = None

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> ItemInputs:
        def apply(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return fn(v)
            if isinstance(v, dict):
                return {k: fn(t) for k, t in v.items()}
            return v

        changes: dict[str, Any] = {f.name: apply(getattr(self, f.name)) for f in fields(self)}
        return replace(self, **changes)

    def select(self, rows: torch.Tensor) -> ItemInputs:
        """The inputs of ``rows`` (e.g. a batch of item indices)."""
        return self._map(lambda t: t[rows])

    def to(self, device: torch.device | str) -> ItemInputs:
        return self._map(lambda t: t.to(device))


class ItemTower(nn.Module):
    """Gated multimodal fusion into one (N, embedding_dim) vector per item.

    Args:
        embedding_dim: output dimension.
        text_dim: dimension of the text vectors (``None``: no text modality).
        categorical_sizes: field -> embedding rows (vocabulary size + 1 for padding).
        numeric_dim: number of numeric fields (0: none).
        vector_dims: precomputed-vector modality -> dimension.
        n_items: ID-embedding rows minus padding (0: no ID embedding, content only).
        id_dropout: probability, in training, of hiding an item's ID embedding.
        modality_dropout: probability, in training, of hiding each present modality of an item
            (at least one stays).
        n_experts: experts of the text / vector adaptors.
        adaptor_dropout: input dropout of the adaptor experts.
    """

    def __init__(
        self,
        embedding_dim: int,
        *,
        text_dim: int | None = None,
        categorical_sizes: Mapping[str, int] | None = None,
        numeric_dim: int = 0,
        vector_dims: Mapping[str, int] | None = None,
        n_items: int = 0,
        id_dropout: float = 0.5,
        modality_dropout: float = 0.1,
        n_experts: int = 8,
        adaptor_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        cats, vecs = dict(categorical_sizes or {}), dict(vector_dims or {})
        self.embedding_dim = embedding_dim
        self.text_dim = text_dim if text_dim else None
        self.categorical_fields = list(cats)
        self.numeric_dim = numeric_dim
        self.vector_fields = list(vecs)
        self.modalities = (
            (["text"] if self.text_dim else [])
            + [f"cat:{f}" for f in cats]
            + (["numeric"] if numeric_dim else [])
            + [f"vec:{m}" for m in vecs]
        )
        _check_args(self.modalities, n_items, id_dropout, modality_dropout)
        d = embedding_dim
        self.text_proj = (
            MoEAdaptor(self.text_dim, d, n_experts, adaptor_dropout) if self.text_dim else None
        )
        self.bags = nn.ModuleList(
            nn.EmbeddingBag(n, d, mode="mean", padding_idx=0) for n in cats.values()
        )
        self.numeric_proj = (
            nn.Sequential(nn.Linear(2 * numeric_dim, d), nn.GELU(), nn.Linear(d, d))
            if numeric_dim
            else None
        )
        self.vector_projs = nn.ModuleList(
            MoEAdaptor(dim, d, n_experts, adaptor_dropout) for dim in vecs.values()
        )
        m = len(self.modalities)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(m))
        self.gate = nn.Linear(m + d, m) if m else None
        self.out = nn.Linear(d, d) if m else None
        self.id_embedding = _id_embedding(n_items, d) if n_items > 0 else None
        self.id_dropout = id_dropout
        self.modality_dropout = modality_dropout

    def _rows(self, inputs: ItemInputs) -> int:
        for t in (
            inputs.text,
            inputs.numeric,
            inputs.item_ids,
            *inputs.categorical.values(),
            *inputs.vectors.values(),
        ):
            if t is not None:
                return int(t.shape[0])
        raise ValueError("ItemInputs holds no tensor")

    def _modalities(self, x: ItemInputs, n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per modality: hidden (N, D) and presence (N,) bool, in ``self.modalities`` order."""
        dev = next(self.parameters()).device
        zeros, absent = (
            torch.zeros(n, self.embedding_dim, device=dev),
            torch.zeros(n, dtype=torch.bool, device=dev),
        )
        hs, ps = [], []
        if self.text_proj is not None:
            ok = x.text is not None
            hs.append(self.text_proj(x.text) if ok else zeros)
            ps.append(_mask(x.text_mask, n, dev) if ok else absent)
        for f, bag in zip(self.categorical_fields, self.bags, strict=True):
            idx = x.categorical.get(f)
            hs.append(bag(idx) if idx is not None else zeros)  # (N, D)
            ps.append((idx > 0).any(dim=1) if idx is not None else absent)
        if self.numeric_proj is not None:
            if x.numeric is None:
                hs.append(zeros)
                ps.append(absent)
            else:
                nm = _mask(x.numeric_mask, x.numeric.shape, dev).to(x.numeric.dtype)  # (N, F)
                hs.append(self.numeric_proj(torch.cat([x.numeric * nm, nm], dim=1)))
                ps.append(nm.bool().any(dim=1))
        for m, proj in zip(self.vector_fields, self.vector_projs, strict=True):
            v = x.vectors.get(m)
            hs.append(proj(v) if v is not None else zeros)
            ps.append(_mask(x.vector_masks.get(m), n, dev) if v is not None else absent)
        return hs, ps

    def fuse(self, inputs: ItemInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Content vector (N, D) and gate weights (N, M) over ``self.modalities``."""
        n = self._rows(inputs)
        hs, ps = self._modalities(inputs, n)
        if not hs:  # an ID-only tower
            dev = next(self.parameters()).device
            return torch.zeros(n, self.embedding_dim, device=dev), torch.zeros(n, 0, device=dev)
        present = torch.stack(ps, dim=1)  # (N, M)
        if self.training and self.modality_dropout > 0:
            present = _drop_modalities(present, self.modality_dropout)
        h = torch.stack([norm(t) for norm, t in zip(self.norms, hs, strict=True)], dim=1)
        h = h * present.unsqueeze(-1)  # (N, M, D), absent modalities zeroed
        p = present.to(h.dtype)
        mean = h.sum(1) / p.sum(1, keepdim=True).clamp_min(1.0)  # (N, D)
        assert self.gate is not None and self.out is not None  # built whenever a modality is
        logits = self.gate(torch.cat([p, mean], dim=1))  # (N, M)
        weights = logits.masked_fill(~present, -1e9).softmax(dim=1) * p  # (N, M)
        fused = (weights.unsqueeze(-1) * h).sum(1)  # (N, D)
        return self.out(fused), weights

    def forward(self, inputs: ItemInputs) -> torch.Tensor:
        # -> (N, embedding_dim)
        content, _ = self.fuse(inputs)
        if self.id_embedding is None or inputs.item_ids is None:
            return content
        ids = inputs.item_ids
        keep = (ids > 0) & (ids < self.id_embedding.num_embeddings)  # unknown ids: content only
        if self.training and self.id_dropout > 0:
            keep &= torch.rand(ids.shape, device=ids.device) >= self.id_dropout
        return content + self.id_embedding(torch.where(keep, ids, torch.zeros_like(ids)))


def _check_args(
    modalities: list[str], n_items: int, id_dropout: float, modality_dropout: float
) -> None:
    if not modalities and n_items <= 0:
        raise ConfigError("ItemTower needs at least one content modality or an ID embedding")
    if not (0.0 <= id_dropout <= 1.0 and 0.0 <= modality_dropout < 1.0):
        raise ConfigError(
            f"id_dropout must be in [0, 1] and modality_dropout in [0, 1), got "
            f"{id_dropout} and {modality_dropout}"
        )


def _id_embedding(n_items: int, dim: int) -> nn.Embedding:
    """Small random ID vectors (row 0, padding, stays zero): content dominates at the start."""
    emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
    nn.init.normal_(emb.weight, std=0.02)
    with torch.no_grad():
        emb.weight[0].zero_()
    return emb


def _mask(mask: torch.Tensor | None, shape: int | torch.Size, device: torch.device) -> torch.Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    return mask.to(device=device, dtype=torch.bool)


def _drop_modalities(present: torch.Tensor, p: float) -> torch.Tensor:
    """Hide each present modality with probability ``p``, keeping at least one per item."""
    kept = present & (torch.rand(present.shape, device=present.device) >= p)  # (N, M)
    lost_all = ~kept.any(dim=1) & present.any(dim=1)
    return torch.where(lost_all.unsqueeze(1), present, kept)
