"""PrismNet: events -> causal transformer -> K evolving interests; items from ids and content.

``forward`` gives, at every position ``t``, K interest vectors (long-term interests pooled from the
prefix plus static user attributes, each fused with the short-term state ``e_t`` by a gate) and
their weights. With ``n_interests == 1`` and no content or context it is exactly SASRec.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
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
        self.n_items, self.k, self.max_seq_len = n_items, n_interests, max_seq_len
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
        share = None
        if n_interests > 1 and extractor == "route":
            self.routed = RoutedInterests(d, n_interests, window=max_seq_len, **(routing or {}))
            if self.routed.hub > 0:  # each item's share of the training events (set by fit)
                share = torch.zeros(n_items + 1)
        elif n_interests > 1:
            self.extractor = (
                SelfAttentiveExtractor(d, n_interests)
                if extractor == "sa"
                else CapsuleExtractor(d, n_interests)
            )
            self.evolution = InterestEvolution(d)
        self.event_share: torch.Tensor | None
        self.register_buffer("event_share", share)
        # the last inference table and its centre (see _center); weak: the table is not kept
        self._center_of: tuple[weakref.ref[torch.Tensor], torch.Tensor] | None = None
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

    @property
    def short_term(self) -> bool:
        """Whether the interests end with a short-term row (K + 1 rows in all)."""
        return self.routed is not None and self.routed.short_term

    def forward(
        self,
        batch: EventFeatures,
        items: torch.Tensor | None = None,
        user_batch: dict[str, torch.Tensor] | None = None,
        last_only: bool = False,
        positions: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """Per-position interests.

        Args:
            batch: (B, H) long features, ``item_idx`` required (left-padded with 0). With
                ``H > max_seq_len`` the transformer reads the last ``max_seq_len`` events and
                the routed long-term interests all ``H`` (other extractors: the last window).
            items: (N+1, D) item table (computed when omitted).
            user_batch: (B,) long static user attributes.
            last_only: the outputs at the last position only (T = 1): what inference needs.
            positions: (T,) increasing window positions (0..L-1) to give the routed
                interests at (None: every position); training reads a share of them.

        Returns:
            ``states`` (B, L, D), ``interests`` (B, T, R, D), ``weights`` (B, T, R),
            ``attention`` (B, T, R, S) or None, ``assignment`` (B, T, S, K) each event's share
            per long-term interest (routed interests only, else None), ``items`` (N+1, D).
            R is K, plus one short-term row last when :attr:`short_term`.
        """
        table = self.item_table() if items is None else items
        L = self.max_seq_len
        full = batch["item_idx"]  # (B, H)
        if full.shape[1] > L and self.routed is None:
            batch, full = {c: v[:, -L:] for c, v in batch.items()}, full[:, -L:]
        window = {c: v[:, -L:] for c, v in batch.items()}
        seq = window["item_idx"]  # (B, L)
        x = self.events(table[seq], window)  # (B, L, D)
        states = self.encoder(x, seq > 0)  # (B, L, D)
        query = states[:, -1:] if last_only else states
        at = None
        if positions is not None and self.routed is not None and not last_only:
            query, at = states[:, positions], positions + (full.shape[1] - seq.shape[1])
        assignment = None
        if self.routed is not None:
            if not last_only and full.shape[1] > L:
                raise ValueError("all positions need a window of at most max_seq_len events")
            center = None if self.event_share is None else self._center(table)
            interests, weights, attention, assignment = self.routed(
                table[full], query, full > 0, center, at
            )
            interests = self._with_user(interests, user_batch)
        elif self.extractor is None or self.evolution is None:
            interests = query[:, :, None, :]  # (B, T, 1, D)
            weights = torch.ones(query.shape[:2] + (1,), device=states.device)
            attention = None
        else:
            long_term, attention = self.extractor(states, seq > 0)  # (B, L, K, D), (B, L, K, L)
            long_term = self._with_user(long_term, user_batch)
            interests, weights = self.evolution(long_term, states)
            if last_only:
                interests, weights = interests[:, -1:], weights[:, -1:]
                attention = attention[:, -1:]
        return {
            "states": states,
            "interests": interests,
            "weights": weights,
            "attention": attention,
            "assignment": assignment,
            "items": table,
        }

    def _center(self, table: torch.Tensor) -> torch.Tensor:
        """(1, D) the mean item vector of the training events; items added after training
        (a live catalogue's table grows) have no events and count for nothing.

        At inference it is computed once per table: the service passes the same (copy-on-
        write) table to every request, and an O(N D) product per request would cost more
        than the request's own work at a million items."""
        assert self.event_share is not None
        frozen = not (self.training or table.requires_grad)
        if frozen and self._center_of is not None and self._center_of[0]() is table:
            return self._center_of[1]
        share = self.event_share[: table.shape[0]]
        center = (share @ table[: share.shape[0]])[None]
        if frozen:
            self._center_of = (weakref.ref(table), center)
        return center

    def _with_user(
        self, interests: torch.Tensor, user_batch: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        """Add each interest's projection of the static user attributes (B, T, K, D)."""
        if self.user_proj is None or not user_batch:
            return interests
        u = sum(emb(user_batch[k]) for k, emb in self.user_features.items() if k in user_batch)
        add = self.user_proj(u).view(-1, 1, self.k, interests.shape[-1])
        if interests.shape[2] > self.k:  # the short-term row keeps the current state as it is
            add = F.pad(add, (0, 0, 0, interests.shape[2] - self.k))
        return interests + add

    def next_event_logits(self, states: torch.Tensor) -> torch.Tensor | None:
        """(…, D) -> (…, n_event_types) for the auxiliary next-behaviour task."""
        return self.event_head(states) if self.event_head is not None else None
