"""The training step of prism and SASRec: every loss term inside one ``forward`` (what DDP
wraps), from the next item, its future set and the interests' auxiliary terms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from prismrec.config import ModelConfig, TrainConfig
from prismrec.models.interests import held, readout
from prismrec.models.prism import PrismNet
from prismrec.training.losses import (
    bf16_is_native,
    interest_cosine,
    interest_overlap,
    interest_ownership_loss,
    mixture_ce_terms,
    next_item_loss,
)
from prismrec.training.windows import targets_share

__all__ = ["TrainStep"]


class TrainStep(nn.Module):
    """Wraps the net so DDP sees the whole loss computation inside one ``forward``."""

    def __init__(
        self,
        net: PrismNet,
        cfg: TrainConfig,
        read: str,
        columns: tuple[str, ...],
        user_attrs: dict[str, torch.Tensor],
        item_freq: torch.Tensor,
        diversity: float = 0.0,
        groups: torch.Tensor | None = None,
        net_config: ModelConfig | None = None,
    ) -> None:
        super().__init__()
        self.net_config = net_config or ModelConfig()
        self.diversity = diversity
        self.groups: torch.Tensor | None
        self.register_buffer("groups", groups)
        self.net, self.cfg, self.read, self.columns = net, cfg, read, columns
        # buffers, so that they move with the module to the training device
        self.attr_names = tuple(user_attrs)
        for name, values in user_attrs.items():
            self.register_buffer(f"user_attr_{name}", values)
        self.item_freq: torch.Tensor
        self.candidates: torch.Tensor
        self.register_buffer("item_freq", item_freq)
        # only items seen in training compete in the softmax; later (cold) items stay neutral
        self.register_buffer("candidates", item_freq > 0)

    @property
    def _fixed_items(self) -> bool:
        """``long_term_fixed_items``: the interests, the mixture and their losses read the item
        vectors and the states without moving them (the short-term row's own loss does)."""
        return self.net.routed is not None and self.net.routed.fixed_items

    @property
    def low_precision(self) -> bool:
        """bfloat16 output-layer logits: asked for, or ``auto`` where the device has it."""
        if self.cfg.precision != "auto":
            return self.cfg.precision == "bfloat16"
        return bf16_is_native(self.item_freq.device)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        feats = {c: batch[c] for c in self.columns}
        users = {k: getattr(self, f"user_attr_{k}")[batch["user_idx"]] for k in self.attr_names}
        at = self._interest_positions(batch["target"])
        out = self.net(feats, user_batch=users, positions=at)
        every = batch["target"] > 0  # (B, L) every position with a target
        mask = every if at is None else every[:, at]  # (B, T) those the interests are at

        def pick_at(x: torch.Tensor) -> torch.Tensor:  # (B, L, ...) -> (B, T, ...)
            return x if at is None else x[:, at]

        interests = out["interests"][mask]  # (M, K, D)
        kept = None  # (M, K) the long-term interests each row has, with dynamic K
        dynamic = self.net.routed is not None and self.net.routed.dynamic
        if dynamic:
            kept = held(out["weights"][mask][:, : self.net.k])
        target = pick_at(batch["target"])[mask]  # (M,)
        future = pick_at(batch["future"])[mask] if "future" in batch else None  # (M, F)
        fw = self.net_config.future_weight if future is not None else 0.0
        items = out["items"]
        bias = bias_all = None
        if self.net.repeat is not None and self.cfg.loss == "ce":
            idx, vals = self.net.repeat(feats["item_idx"])  # (B, L, S) each
            bias = (pick_at(idx)[mask], pick_at(vals)[mask])  # sparse: (M, S) items, values
            bias_all = (idx[every], vals[every])
        row_nll = None  # (M, K) each row's own next-item NLL, when the mixture gives it
        if self.read == "mixture" and interests.shape[1] > 1 and self.cfg.loss == "ce":
            w = out["weights"][mask]
            loss, row_nll = mixture_ce_terms(
                interests,
                w,
                items,
                target,
                self.candidates,
                bias,
                self.low_precision,
                future,
                fw,
                interests.shape[1] if self._fixed_items else 0,
            )
        else:
            read = "hard" if self.read == "mixture" else self.read
            user = (
                interests[:, 0]
                if interests.shape[1] == 1
                else readout(interests, items[target], read)
            )
            loss = self._next_item(self.cfg.loss, user, items, target, bias, future, fw)
        stats = {"loss": float(loss.detach())}
        short_w = self.net_config.short_term_weight
        if short_w > 0 and self.net.short_term and self.cfg.loss == "ce":
            # the short-term row on its own as well: a component the mixture weighs little
            # would otherwise get no gradient and never become worth weighing
            if at is not None:  # at every position: the short-term row is the state there
                short = self._next_item(
                    "ce",
                    out["states"][every],
                    items,
                    batch["target"][every],
                    bias_all,
                    batch["future"][every] if future is not None else None,
                    fw,
                )
            elif row_nll is not None and not self._fixed_items:  # the mixture's logits: free
                short = row_nll[:, -1].mean()
            else:  # the state itself: with fixed items the mixture's copy of it is detached
                now = pick_at(out["states"])[mask] if self._fixed_items else interests[:, -1]
                short = self._next_item("ce", now, items, target, bias, future, fw)
            stats["short_term"] = float(short.detach())
            loss = loss + short_w * short
        long_w = self.net_config.long_term_weight
        if long_w > 0 and self.net.short_term and self.cfg.loss == "ce":
            # each long-term interest must also retrieve the items near it (ComiRec's hard
            # readout): without it they only learn to tell each other apart, and their own
            # nearest items drift away from what they stand for
            # over the future set: one of its items per position, drawn at random
            pick = target if future is None else _one_of(target, future)
            table = items.detach() if self._fixed_items else items
            facet = readout(interests[:, : self.net.k], table[pick], "hard", active=kept)
            longl = self._next_item("ce", facet, table, pick, None)
            stats["long_term"] = float(longl.detach())
            loss = loss + long_w * longl
        if self.diversity > 0 and interests.shape[1] > 1:
            # a random subset of positions is enough to steer the interests apart
            rows = torch.randperm(interests.shape[0], device=interests.device)[:_OVERLAP_ROWS]
            overlap = interest_overlap(
                interests[rows], items, self.candidates, self.groups, self.low_precision
            )
            stats["overlap"] = float(overlap.detach())
            loss = loss + self.diversity * overlap
        own_w = self.net_config.ownership_weight
        if own_w > 0 and out["assignment"] is not None:
            # at each window's latest position: interests vs the events they own
            events = (items.detach() if self._fixed_items else items)[feats["item_idx"]]
            facets = out["interests"][:, -1, : self.net.k]  # (B, K, D): long-term interests
            latest = held(out["weights"][:, -1, : self.net.k]) if dynamic else None
            own = interest_ownership_loss(facets, events, out["assignment"][:, -1], latest)
            stats["ownership"] = float(own.detach())
            loss = loss + own_w * own
        sep_w = self.net_config.separation_weight
        if sep_w > 0 and out["assignment"] is not None and interests.shape[1] > 1:
            rows = torch.randperm(interests.shape[0], device=interests.device)[:_OVERLAP_ROWS]
            cos = interest_cosine(
                interests[rows, : self.net.k], None if kept is None else kept[rows]
            )
            stats["cosine"] = float(cos.detach())
            loss = loss + sep_w * cos
        ev_logits = self.net.next_event_logits(out["states"][every])
        if ev_logits is not None and self.cfg.aux_weight > 0:
            aux = F.cross_entropy(ev_logits, batch["target_event"][every])
            stats["aux_loss"] = float(aux.detach())
            loss = loss + self.cfg.aux_weight * aux
        return loss, stats

    def _interest_positions(self, target: torch.Tensor) -> torch.Tensor | None:
        """The window positions the interests are routed at and the multi-interest losses
        read (None: all): positions drawn afresh each step, in proportion to how many rows
        have a target there, until they hold ``interest_positions`` of the batch's targets;
        the latest position always. The short-term row learns at every position. The
        long-term interests change little from one position of a window to the next, so a
        share of the targets carries nearly all of their signal at that share of the routing
        and softmax cost. The share counts targets, not positions: on short sequences (a
        few events per user, most of the window padding) nearly every target sits in the
        last few positions, and a share of the positions would hold most of them."""
        share = self.net_config.interest_positions
        if share >= 1.0 or not self.net.short_term or self.net_config.short_term_weight <= 0:
            return None
        return targets_share(target, share)

    def _next_item(
        self,
        kind: str,
        user: torch.Tensor,
        items: torch.Tensor,
        target: torch.Tensor,
        bias: Any,
        future: torch.Tensor | None = None,
        future_weight: float = 0.0,
    ) -> torch.Tensor:
        """The next-item loss of ``user`` (M, D) vectors, over the training candidates."""
        return next_item_loss(
            kind,
            user,
            items,
            target,
            self.cfg.n_negatives,
            self.item_freq,
            candidates=self.candidates,
            logit_bias=bias,
            low_precision=self.low_precision,
            future=future,
            future_weight=future_weight,
        )


_OVERLAP_ROWS = 256


def _one_of(target: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
    """(M,) one item per row drawn uniformly from its next item and its future (M, F)."""
    both = torch.cat([target[:, None], future], 1)  # (M, 1 + F)
    n = (both > 0).sum(1)  # the next item is always real
    j = (torch.rand(n.shape, device=n.device) * n).long().clamp(max=both.shape[1] - 1)
    # real entries come first in each row (the future is cut at the sequence's end)
    return both.gather(1, j[:, None])[:, 0]
