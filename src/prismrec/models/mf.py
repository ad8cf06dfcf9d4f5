"""Matrix factorisation for BPR: user and item embeddings, inner-product scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MatrixFactorization"]


class MatrixFactorization(nn.Module):
    """``score(u, i) = <p_u, q_i>``; item row 0 is padding."""

    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, embedding_dim)
        self.items = nn.Embedding(n_items + 1, embedding_dim, padding_idx=0)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)

    def bpr_loss(self, user: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """``-log sigma(s(u, i+) - s(u, i-))`` averaged; user/pos/neg are (B,) indices."""
        p = self.users(user)  # (B, D)
        diff = (p * (self.items(pos) - self.items(neg))).sum(-1)  # (B,)
        return -F.logsigmoid(diff).mean()

    def fold_in(self, items: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """User vectors for unseen users: the mean of their items' vectors. (B, L) -> (B, D)."""
        q = self.items(items) * mask.unsqueeze(-1)
        return q.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
