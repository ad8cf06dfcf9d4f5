"""Multi-interest extraction (self-attentive or capsule routing), interest evolution, readout.

Everything is causal per position: the interests at position ``t`` only see events ``<= t``, so
one forward pass trains every position of a sequence at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CapsuleExtractor",
    "InterestEvolution",
    "RoutedInterests",
    "SelfAttentiveExtractor",
    "readout",
]


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


class RoutedInterests(nn.Module):
    """Interests that split the history: every event is routed to one of K interests.

    Routing reads the events' *item* vectors (content + id, not the transformer states, which
    already mix the whole prefix): a few rounds of soft k-means from K learned prototypes, each
    event's assignment a softmax over the interests (so events are shared out, not copied), made
    balanced by Sinkhorn iterations (so the interests share the history instead of one taking all
    of it). Interest ``k`` at position ``t`` is then

    ``v_k = long_k + r_k * g_k * e_t``: ``long_k`` the recency-weighted mean of the (projected)
    item vectors it owns, ``e_t`` the transformer's current state (short-term interest), ``r_k``
    the interest's share of the latest events and ``g_k`` a gate of both: the current state
    evolves only the interests the user is acting on now, the others keep their own facet.

    Weights: ``softmax_k(a log mass_k + b log r_k + q(state_t) . v_k / sqrt(D))`` with the
    recency-weighted share of the history ``mass_k``, the share of the latest events ``r_k`` and
    learned ``a``, ``b``; an interest that owns nothing yet has weight ~0.
    """

    def __init__(
        self,
        embedding_dim: int,
        n_interests: int,
        iterations: int = 2,
        temperature: float = 0.1,
        sinkhorn: int = 3,
        balance: float = 0.5,
    ) -> None:
        super().__init__()
        d = embedding_dim
        self.k, self.iterations, self.temperature = n_interests, iterations, temperature
        self.sinkhorn, self.balance = sinkhorn, balance
        self.key = nn.Linear(d, d)
        self.prototypes = nn.Parameter(torch.randn(n_interests, d))
        self.value = nn.Linear(d, d)
        self.gate = nn.Linear(2 * d, d)
        self.query = nn.Linear(d, d)
        # recency decays (per event, in units of 1/L): slow for long-term, fast for short-term
        self.long_decay = nn.Parameter(torch.tensor(-2.0))
        self.short_decay = nn.Parameter(torch.tensor(1.0))
        self.mix = nn.Parameter(torch.tensor([1.0, 1.0]))

    def forward(
        self, items: torch.Tensor, states: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """items, states (B, L, D), valid (B, L) -> interests (B, T, K, D), weights (B, T, K),
        ownership (B, T, K, S) (each interest's recency-weighted share of the window) and the
        assignment (B, T, S, K) (each event's share per interest, rows sum to 1)."""
        B, L, D = items.shape
        mask = _prefix_mask(valid).to(items.dtype)  # (B, T, S)
        z = F.normalize(self.key(items), dim=-1)  # (B, S, D)
        proto = F.normalize(self.prototypes, dim=-1)  # (K, D)
        logits = torch.einsum("bsd,kd->bsk", z, proto)[:, None] / self.temperature  # (B,1,S,K)
        c = self._assign(logits.expand(B, L, L, self.k), mask)  # (B, T, S, K)
        for _ in range(self.iterations):
            cent = torch.einsum("btsk,bsd->btkd", c, z) + proto  # prototype as a prior
            cent = F.normalize(cent, dim=-1)
            c = self._assign(torch.einsum("bsd,btkd->btsk", z, cent) / self.temperature, mask)
        pos = torch.arange(L, device=items.device, dtype=items.dtype)
        ago = (pos[:, None] - pos[None, :]).clamp(min=0) / L  # (T, S) events ago, in 1/L
        own = c * mask[..., None]  # (B, T, S, K)
        r_long = own * torch.exp(-F.softplus(self.long_decay) * ago)[None, :, :, None]
        mass = r_long.sum(2)  # (B, T, K)
        long_k = torch.einsum("btsk,bsd->btkd", r_long, self.value(items))
        long_k = long_k / (mass[..., None] + 1e-6)
        # short term: the current state joins the interests that own the latest events
        recent = torch.exp(-F.softplus(self.short_decay) * L * ago)[None, :, :, None] * own
        share = recent.sum(2) / (recent.sum((2, 3))[..., None] + 1e-6)  # (B, T, K)
        now = states[:, :, None, :].expand_as(long_k)
        g = torch.sigmoid(self.gate(torch.cat([long_k, now], dim=-1)))
        interests = long_k + share[..., None] * g * now  # (B, T, K, D)
        q = self.query(states)[:, :, None, :]  # (B, T, 1, D)
        # weight: how much of the history the interest owns, how much of what the user does now,
        # and how well it matches the current state
        score = (
            self.mix[0] * torch.log(mass + 1e-4)
            + self.mix[1] * torch.log(share + 1e-4)
            + (interests * q).sum(-1) / D**0.5
        )
        weights = torch.softmax(score, dim=-1)
        ownership = (r_long / (mass[:, :, None, :] + 1e-6)).permute(0, 1, 3, 2)  # (B,T,K,S)
        return interests, weights, ownership, own

    def _assign(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, S, K) logits -> each event's share per interest (rows sum to 1 on real
        events), balanced over the interests by Sinkhorn iterations."""
        c = torch.softmax(logits, dim=-1) * mask[..., None]
        # events in the prefix (>= 1: padded positions would give 0 ** balance, NaN gradients)
        n = mask.sum(-1).clamp(min=1.0)[..., None, None]  # (B, T, 1, 1)
        for _ in range(self.sinkhorn):
            col = c.sum(2, keepdim=True)  # (B, T, 1, K)
            c = c * ((n / self.k) / (col + 1e-6)) ** self.balance
            c = c / (c.sum(-1, keepdim=True) + 1e-9) * mask[..., None]
        return c


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
