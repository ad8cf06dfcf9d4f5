"""Multi-interest extraction (self-attentive or capsule routing), interest evolution, readout.

Everything is causal per position: the interests at position ``t`` only see events ``<= t``, so
one forward pass trains every position of a sequence at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CapsuleExtractor", "InterestEvolution", "SelfAttentiveExtractor", "readout"]


def _prefix_mask(valid: torch.Tensor) -> torch.Tensor:
    """(B, T, S) True where key ``s`` is a real event at or before query ``t``."""
    L = valid.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=valid.device).tril()
    return causal[None] & valid[:, None, :]


class SelfAttentiveExtractor(nn.Module):
    """ComiRec-SA: K attention heads over the sequence, each pooling one interest."""

    def __init__(self, embedding_dim: int, n_interests: int, hidden: int | None = None) -> None:
        super().__init__()
        h = hidden or 4 * embedding_dim
        self.w1 = nn.Linear(embedding_dim, h)
        self.w2 = nn.Linear(h, n_interests)

    def forward(
        self, states: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """states (B, L, D), valid (B, L) -> interests (B, T, K, D), attention (B, T, K, S)."""
        a = self.w2(torch.tanh(self.w1(states)))  # (B, S, K)
        mask = _prefix_mask(valid)  # (B, T, S)
        logits = a.transpose(1, 2)[:, None]  # (B, 1, K, S)
        logits = logits.masked_fill(~mask[:, :, None, :], float("-inf"))  # (B, T, K, S)
        att = torch.softmax(logits, dim=-1).nan_to_num(0.0)
        return torch.einsum("btks,bsd->btkd", att, states), att


class CapsuleExtractor(nn.Module):
    """MIND/ComiRec-DR: dynamic routing from event capsules to K interest capsules."""

    def __init__(self, embedding_dim: int, n_interests: int, iterations: int = 3) -> None:
        super().__init__()
        self.k = n_interests
        self.iterations = iterations
        self.bilinear = nn.Linear(embedding_dim, embedding_dim, bias=False)
        # fixed random routing initialisation (as in MIND) breaks the symmetry between capsules
        self.register_buffer("init_logits", torch.randn(n_interests, 1) * 1.0)

    def forward(
        self, states: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """states (B, L, D), valid (B, L) -> interests (B, T, K, D), routing (B, T, K, S)."""
        u = self.bilinear(states)  # (B, S, D)
        B, L, _ = states.shape
        mask = _prefix_mask(valid)[:, :, None, :]  # (B, T, 1, S)
        init: torch.Tensor = self.init_logits  # type: ignore[assignment]
        b = init.expand(self.k, L)[None, None].expand(B, L, self.k, L).clone()
        u_detached = u.detach()
        for i in range(self.iterations):
            c = torch.softmax(b, dim=2) * mask  # (B, T, K, S): each event split over interests
            src = u if i == self.iterations - 1 else u_detached
            z = torch.einsum("btks,bsd->btkd", c, src)
            v = _squash(z)
            if i < self.iterations - 1:
                b = b + torch.einsum("btkd,bsd->btks", v, u_detached)
        return v, c


def _squash(z: torch.Tensor) -> torch.Tensor:
    n2 = (z * z).sum(-1, keepdim=True)
    return z * (n2 / (1 + n2)) / torch.sqrt(n2 + 1e-9)


class InterestEvolution(nn.Module):
    """Fuse each long-term interest ``v_k`` with the short-term interest ``e_t`` by a gate.

    ``v_k^t = g * v_k + (1 - g) * e_t`` with ``g = sigmoid(W_v v_k + W_e e_t)``; interest
    weights come from how well each evolved interest matches the current state.
    """

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        self.gate_v = nn.Linear(embedding_dim, embedding_dim)
        self.gate_e = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.query = nn.Linear(embedding_dim, embedding_dim)

    def forward(
        self, long_term: torch.Tensor, short: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """long_term (B, T, K, D), short (B, T, D) -> evolved (B, T, K, D), weights (B, T, K)."""
        e = short[:, :, None, :]  # (B, T, 1, D)
        # the e_t term is computed once per position, not once per interest
        g = torch.sigmoid(self.gate_v(long_term) + self.gate_e(e))  # (B, T, K, D)
        evolved = e + g * (long_term - e)
        q = self.query(short)[:, :, None, :]  # (B, T, 1, D)
        w = torch.softmax((evolved * q).sum(-1) / evolved.shape[-1] ** 0.5, dim=-1)
        return evolved, w


def readout(
    interests: torch.Tensor, target: torch.Tensor, mode: str = "hard", temperature: float = 1.0
) -> torch.Tensor:
    """Pick the user vector that explains ``target``: interests (M, K, D), target (M, D) -> (M, D).

    ``hard``: the interest with the highest inner product (ComiRec); ``soft``: label-aware
    attention over interests (MIND).
    """
    sim = torch.einsum("mkd,md->mk", interests, target)  # (M, K)
    if mode == "hard":
        k = sim.argmax(dim=-1)
        return interests[torch.arange(interests.shape[0], device=interests.device), k]
    if mode == "soft":
        att = F.softmax(sim / temperature, dim=-1)
        return torch.einsum("mk,mkd->md", att, interests)
    raise ValueError(f"unknown readout {mode!r}; expected 'hard' or 'soft'")
