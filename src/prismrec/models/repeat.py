"""Repeat vs explore: a learned logit bias on the items a user already has in the history.

Some domains re-consume (groceries, music, clicks on the same product), others almost never do
(a user rates a film once). RepeatNet (Ren et al., AAAI 2019) learns from the data which regime
holds. Here that is a small, learned table: every earlier occurrence of an item adds
``scale * table[bucket(distance)]`` to that item's logit, where ``distance`` is how many events
ago it happened (0: the latest event) and buckets grow on a log2 scale. The table starts at zero
(neutral) and is trained by the same next-item loss, so it turns positive on data with repeats
and negative on data without; nothing about the evaluation protocol is hard-coded.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RepeatBias"]


class RepeatBias(nn.Module):
    """Per-recency-bucket logit bias for history items.

    Args:
        n_buckets: distances 0, 1-2, 3-6, 7-14, 15-30 and 31+ (six buckets) by default; the last
            bucket also covers everything older than the training window.
        scale: parametrisation constant. Adam moves every parameter by about the learning rate per
            step, so a bias that has to travel tens of logit units would need thousands of steps;
            ``scale`` lets it get there in a few hundred (it is a learning-rate multiplier, not a
            prior on the sign or size of the bias).
    """

    def __init__(self, n_buckets: int = 6, scale: float = 10.0) -> None:
        super().__init__()
        self.n_buckets = n_buckets
        self.scale = scale
        self.table = nn.Parameter(torch.zeros(n_buckets))

    def bucket(self, distance: torch.Tensor) -> torch.Tensor:
        """(…) long distances >= 0 -> (…) bucket indices: floor(log2(d + 1)), clipped."""
        b = torch.floor(torch.log2(distance.clamp_min(0).double() + 1.0)).long()
        return b.clamp_max(self.n_buckets - 1)

    def values(self) -> torch.Tensor:
        """(n_buckets,) the bias per bucket in logit units."""
        return self.table * self.scale

    def forward(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse bias for every position: seq (B, L) -> item ids (B, T, S), values (B, T, S).

        Row ``t`` lists the events ``s <= t`` (the history after event ``t``); padding and future
        events get item 0 and value 0, so scattering them is harmless.
        """
        L = seq.shape[1]
        pos = torch.arange(L, device=seq.device)
        dist = pos[:, None] - pos[None, :]  # (T, S): t - s
        keep = (dist >= 0)[None] & (seq > 0)[:, None, :]  # (B, T, S)
        vals = self.values()[self.bucket(dist)]  # (T, S)
        idx = torch.where(keep, seq[:, None, :].expand(-1, L, -1), 0)
        return idx, torch.where(keep, vals[None], torch.zeros((), device=seq.device))

    @staticmethod
    def dense(idx: torch.Tensor, vals: torch.Tensor, n_rows: int) -> torch.Tensor:
        """(M, S) ids and values -> (M, n_rows) bias (repeated items add up; column 0 is junk)."""
        out = torch.zeros(idx.shape[0], n_rows, dtype=vals.dtype, device=vals.device)
        return out.scatter_add(1, idx, vals)

    def last(self, seq: torch.Tensor, n_rows: int) -> torch.Tensor:
        """(B, S) left-padded full histories -> (B, n_rows) bias for the next event."""
        S = seq.shape[1]
        dist = (S - 1) - torch.arange(S, device=seq.device)  # (S,)
        vals = torch.where(seq > 0, self.values()[self.bucket(dist)][None], 0.0)
        return self.dense(seq, vals, n_rows)
