"""PrismNet: events -> causal transformer -> K evolving interests; items from ids and content.

``forward`` gives, at every position ``t``, K interest vectors (long-term interests pooled from the
prefix plus static user attributes, each fused with the short-term state ``e_t`` by a gate) and
their weights. With ``n_interests == 1`` and no content or context it is exactly SASRec.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prismrec.models.fusion import ItemInputs, ItemTower
from prismrec.models.interests import (
    CapsuleExtractor,
    InterestEvolution,
    RoutedInterests,
    SelfAttentiveExtractor,
)
from prismrec.models.repeat import RepeatBias
from prismrec.models.sequence import CausalEncoder, EventEncoder, EventFeatures

__all__ = ["PrismNet"]


class PrismNet(nn.Module):
    """The interest model.

    Args:
        n_items: catalogue size N (item rows are 1..N, 0 is padding).
        embedding_dim: D.
        max_seq_len: L.
        n_layers, n_heads, dropout: transformer settings.
        n_interests: K.
        extractor: ``"sa"`` (self-attentive) or ``"dr"`` (capsule dynamic routing).
        feature_sizes: per-event categorical features and cardinalities (event type, gap
            bucket, hour, weekday, context columns).
        user_feature_sizes: static user attributes and cardinalities.
        item_tower: content tower (``None``: ID embeddings only).
        item_inputs: the tower's inputs for all N+1 item rows.
        use_id: add an ID embedding (when there is a tower, the tower owns it).
        n_event_types: > 0 adds the auxiliary next-behaviour-type head.
        use_repeat: add the learned repeat/explore bias on history items (``repeat``).
    """

    def __init__(
        self,
        n_items: int,
        embedding_dim: int = 64,
        max_seq_len: int = 50,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.2,
        n_interests: int = 4,
        extractor: str = "sa",
        feature_sizes: dict[str, int] | None = None,
        user_feature_sizes: dict[str, int] | None = None,
        item_tower: ItemTower | None = None,
        item_inputs: ItemInputs | None = None,
        n_event_types: int = 0,
        use_repeat: bool = False,
        routing: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        d = embedding_dim
        self.n_items, self.k = n_items, n_interests
        self.item_tower = item_tower
        self.item_inputs = item_inputs
        self.item_embedding = (
            nn.Embedding(n_items + 1, d, padding_idx=0) if item_tower is None else None
        )
        if self.item_embedding is not None:
            nn.init.normal_(self.item_embedding.weight, std=0.02)
        self.events = EventEncoder(d, max_seq_len, feature_sizes or {}, dropout)
        self.encoder = CausalEncoder(d, n_layers, n_heads, dropout)
        self.extractor: nn.Module | None = None
        self.evolution: InterestEvolution | None = None
        self.routed: RoutedInterests | None = None
        if n_interests > 1 and extractor == "route":
            self.routed = RoutedInterests(d, n_interests, **(routing or {}))
        elif n_interests > 1:
            self.extractor = (
                SelfAttentiveExtractor(d, n_interests)
                if extractor == "sa"
                else CapsuleExtractor(d, n_interests)
            )
            self.evolution = InterestEvolution(d)
        self.user_features = nn.ModuleDict(
            {k: nn.Embedding(v, d, padding_idx=0) for k, v in (user_feature_sizes or {}).items()}
        )
        self.user_proj = nn.Linear(d, n_interests * d) if self.user_features else None
        self.event_head = nn.Linear(d, n_event_types) if n_event_types > 0 else None
        self.repeat = RepeatBias() if use_repeat else None

    def item_table(self) -> torch.Tensor:
        """(N+1, D) vectors of every item (row 0: padding)."""
        if self.item_tower is not None:
            assert self.item_inputs is not None
            return self.item_tower(self.item_inputs)
        assert self.item_embedding is not None
        return self.item_embedding.weight

    def forward(
        self,
        batch: EventFeatures,
        items: torch.Tensor | None = None,
        user_batch: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """Per-position interests.

        Args:
            batch: (B, L) long features, ``item_idx`` required (left-padded with 0).
            items: (N+1, D) item table (computed when omitted).
            user_batch: (B,) long static user attributes.

        Returns:
            ``states`` (B, L, D), ``interests`` (B, L, K, D), ``weights`` (B, L, K),
            ``attention`` (B, L, K, L) or None, ``assignment`` (B, L, L, K) each event's share
            per interest (routed interests only, else None), ``items`` (N+1, D).
        """
        table = self.item_table() if items is None else items
        seq = batch["item_idx"]  # (B, L)
        valid = seq > 0
        x = self.events(table[seq], batch)  # (B, L, D)
        states = self.encoder(x, valid)  # (B, L, D)
        assignment = None
        if self.routed is not None:
            interests, weights, attention, assignment = self.routed(table[seq], states, valid)
            interests = self._with_user(interests, user_batch)
        elif self.extractor is None or self.evolution is None:
            interests = states[:, :, None, :]  # (B, L, 1, D)
            weights = torch.ones(states.shape[:2] + (1,), device=states.device)
            attention = None
        else:
            long_term, attention = self.extractor(states, valid)  # (B, L, K, D), (B, L, K, L)
            long_term = self._with_user(long_term, user_batch)
            interests, weights = self.evolution(long_term, states)
        return {
            "states": states,
            "interests": interests,
            "weights": weights,
            "attention": attention,
            "assignment": assignment,
            "items": table,
        }

    def _with_user(
        self, interests: torch.Tensor, user_batch: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        """Add each interest's projection of the static user attributes (B, T, K, D)."""
        if self.user_proj is None or not user_batch:
            return interests
        u = sum(emb(user_batch[k]) for k, emb in self.user_features.items() if k in user_batch)
        return interests + self.user_proj(u).view(-1, 1, self.k, interests.shape[-1])

    def next_event_logits(self, states: torch.Tensor) -> torch.Tensor | None:
        """(…, D) -> (…, n_event_types) for the auxiliary next-behaviour task."""
        return self.event_head(states) if self.event_head is not None else None
