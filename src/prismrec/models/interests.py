"""Multi-interest extraction (self-attentive or capsule routing), interest evolution, readout.

Everything is causal per position: the interests at position ``t`` only see events ``<= t``, so
one forward pass trains every position of a sequence at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_W = TypeVar("_W", np.ndarray, torch.Tensor)

__all__ = [
    "CapsuleExtractor",
    "InterestEvolution",
    "Interests",
    "RoutedInterests",
    "SelfAttentiveExtractor",
    "held",
    "readout",
]


def held(weights: _W) -> _W:
    """Which of a user's interest rows are interests the user has: the model marks one the
    user does not have with weight 0 (dynamic K gives a light user fewer than K). For arrays
    and tensors alike; everything that reads weights (losses, measures, lists, the API, the
    page) asks this, so an absent row is absent everywhere."""
    return weights > 0


@dataclass(frozen=True)
class Interests:
    """A user's interests, or a batch of users' (one leading axis more on every array).

    The one type the model returns (``interests()``), the retriever ranks with, the service
    caches and the evaluation measures.

    Attributes:
        vectors: (R, D) interest vectors; (B, R, D) for a batch.
        weights: (R,) their mixture weights, 0 for a row the user does not have (:func:`held`).
        attention: (R, L) each row's attention over the user's events, or ``None``.
        n_long: the first ``n_long`` rows are long-term interests and the rest the short-term
            one (the current state); ``None``: every row is alike.
    """

    vectors: np.ndarray
    weights: np.ndarray
    attention: np.ndarray | None = None
    n_long: int | None = None

    @property
    def n_rows(self) -> int:
        """R, the rows per user (long-term ones plus a short-term one when present)."""
        return int(self.weights.shape[-1])

    @property
    def n_users(self) -> int:
        """B for a batch; 1 for one user's interests."""
        return int(self.weights.shape[0]) if self.weights.ndim == 2 else 1

    def user(self, row: int) -> Interests:
        """One user's interests out of a batch."""
        att = None if self.attention is None else self.attention[row]
        return Interests(self.vectors[row], self.weights[row], att, self.n_long)

    def term(self, i: int) -> str:
        """``"long"`` or ``"short"``: what row ``i`` stands for."""
        return "short" if self.n_long is not None and i >= self.n_long else "long"

    @property
    def long_rows(self) -> int:
        """How many leading rows are long-term interests (all of them without a short-term)."""
        return self.n_rows if self.n_long is None else self.n_long


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

    init_logits: torch.Tensor  # a buffer (K, 1), registered in __init__

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
        init = self.init_logits
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
    of it). Long-term interest ``k`` is ``long_k``, the recency-weighted mean of the (projected)
    item vectors it owns: it evolves only from its own events.

    With ``short_term`` (the default of new models) the transformer's current state ``e_t`` is
    one more mixture component, the short-term interest, and the weights over the K + 1 are
    ``softmax(a log share_k + b log r_k + q . long_k / sqrt(D); c + q . e_t / sqrt(D))`` with the
    recency-weighted share of the history ``share_k``, the share of the latest events ``r_k``,
    ``q`` a projection of ``e_t`` and learned ``a``, ``b``, ``c``. Without it (models trained
    before), ``e_t`` is added to the interests that own the latest events, by a gate.

    The routing needs no transformer, so it can pool more events than the transformer's window:
    ``items``/``valid`` may be longer than ``states`` (older events are summarised by the
    long-term interests only); recency is counted in units of the training ``window``.
    """

    def __init__(
        self,
        embedding_dim: int,
        n_interests: int,
        iterations: int = 2,
        temperature: float = 0.1,
        sinkhorn: int = 3,
        balance: float = 0.5,
        short_term: bool = False,
        window: int = 50,
        hub: float = 0.0,
        norm: bool = False,
        dynamic: bool = False,
        fixed_items: bool = False,
    ) -> None:
        super().__init__()
        d = embedding_dim
        self.k, self.iterations, self.temperature = n_interests, iterations, temperature
        self.dynamic, self.fixed_items = dynamic, fixed_items
        self.sinkhorn, self.balance = sinkhorn, balance
        self.short_term, self.window, self.hub = short_term, window, hub
        # long-term interests as direction x learned length: a centroid of small item vectors
        # (ID embeddings start at std 0.02) would score every item alike, a flat softmax that
        # neither learns nor earns mixture weight
        self.log_norm = (
            nn.Parameter(torch.full((n_interests,), 0.5 * math.log(d))) if norm else None
        )
        self.now_bias = nn.Parameter(torch.tensor(0.0))
        self.key = nn.Linear(d, d)
        self.prototypes = nn.Parameter(torch.randn(n_interests, d))
        self.value = nn.Linear(d, d)
        if short_term:  # a long-term interest starts as the centroid of the items it owns
            nn.init.eye_(self.value.weight)
            nn.init.zeros_(self.value.bias)
        self.gate = nn.Linear(2 * d, d)
        self.query = nn.Linear(d, d)
        # recency decays (per event, in units of 1/window): slow for long-, fast for short-term
        self.long_decay = nn.Parameter(torch.tensor(-2.0))
        self.short_decay = nn.Parameter(torch.tensor(1.0))
        self.mix = nn.Parameter(torch.tensor([1.0, 1.0]))

    def forward(
        self,
        items: torch.Tensor,
        states: torch.Tensor,
        valid: torch.Tensor,
        center: torch.Tensor | None = None,
        at: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """items (B, S, D), valid (B, S), states (B, T, D) at the last T <= S positions (or
        at the positions ``at`` (T,) of the S events, increasing) ->
        interests (B, T, R, D), weights (B, T, R) (R = K, or K + 1 with the short-term row
        last), ownership (B, T, R, S) (each interest's recency-weighted share of the events)
        and the assignment (B, T, S, K) (each event's share per long-term interest).

        ``center`` (1, D): the mean item vector of all training events. With ``hub`` > 0 the
        long-term interests are their events' centroids less ``hub`` times the centroid of
        everyone's events: what a facet shares with every user (the popular items near the
        middle of the item space, hubs that top every centroid's list) no longer leads it."""
        if self.fixed_items:  # the interests read the item vectors and states, never move them
            items, states = items.detach(), states.detach()
            center = None if center is None else center.detach()
        B, S, D = items.shape
        T = states.shape[1]
        rows = torch.arange(S - T, S, device=items.device) if at is None else at  # (T,)
        causal = torch.ones(S, S, dtype=torch.bool, device=items.device).tril()[rows]
        mask = (causal[None] & valid[:, None, :]).to(items.dtype)  # (B, T, S)
        z = F.normalize(self.key(items), dim=-1)  # (B, S, D)
        proto = F.normalize(self.prototypes, dim=-1)  # (K, D)
        logits = torch.einsum("bsd,kd->bsk", z, proto)[:, None] / self.temperature  # (B,1,S,K)
        active = self.active(logits.expand(B, T, S, self.k), mask)  # (B, T, K) or None
        c = self._assign(logits.expand(B, T, S, self.k), mask, active)  # (B, T, S, K)
        for _ in range(self.iterations):
            cent = torch.einsum("btsk,bsd->btkd", c, z) + proto  # prototype as a prior
            cent = F.normalize(cent, dim=-1)
            c = self._assign(
                torch.einsum("bsd,btkd->btsk", z, cent) / self.temperature, mask, active
            )
        pos = torch.arange(S, device=items.device, dtype=items.dtype)
        ago = (pos[rows, None] - pos[None, :]).clamp(min=0)  # (T, S) events ago
        own = c * mask[..., None]  # (B, T, S, K)
        decay = torch.exp(-F.softplus(self.long_decay) * ago / self.window)
        r_long = own * decay[None, :, :, None]
        mass = r_long.sum(2)  # (B, T, K)
        long_k = torch.einsum("btsk,bsd->btkd", r_long, self.value(items))
        long_k = long_k / (mass[..., None] + 1e-6)
        if self.hub > 0 and center is not None:
            long_k = long_k - self.hub * self.value(center)[0]
        if self.log_norm is not None:
            long_k = F.normalize(long_k, dim=-1) * self.log_norm.exp()[:, None]
        if active is not None:  # an interest the prefix does not keep is no vector at all
            long_k = long_k * active[..., None]
        recent = torch.exp(-F.softplus(self.short_decay) * ago)[None, :, :, None] * own
        share = recent.sum(2) / (recent.sum((2, 3))[..., None] + 1e-6)  # (B, T, K)
        q = self.query(states)[:, :, None, :]  # (B, T, 1, D)
        ownership = (r_long / (mass[:, :, None, :] + 1e-6)).permute(0, 1, 3, 2)  # (B,T,K,S)
        if not self.short_term:
            interests, weights = self._gated(long_k, states, mass, share, q, active)
            return interests, weights, ownership, own
        # the long-term interests stay what their events are; the current state is a component
        # of its own. Shares, not masses: a longer history must not shift weight to the facets
        hist = mass / (mass.sum(-1, keepdim=True) + 1e-6)
        score = (
            self.mix[0] * torch.log(hist + 1e-4)
            + self.mix[1] * torch.log(share + 1e-4)
            + (long_k * q).sum(-1) / D**0.5
        )
        if active is not None:  # weight 0: the row is not one of this user's interests
            score = score.masked_fill(active == 0, float("-inf"))
        now_score = self.now_bias + (states[:, :, None, :] * q).sum(-1) / D**0.5  # (B, T, 1)
        weights = torch.softmax(torch.cat([score, now_score], -1), dim=-1)  # (B, T, K+1)
        interests = torch.cat([long_k, states[:, :, None, :]], dim=2)  # (B, T, K+1, D)
        att_now = recent.sum(-1)  # (B, T, S): the latest events, by recency
        att_now = att_now / (att_now.sum(-1, keepdim=True) + 1e-6)
        ownership = torch.cat([ownership, att_now[:, :, None, :]], dim=2)
        return interests, weights, ownership, own

    def _gated(
        self,
        long_k: torch.Tensor,
        states: torch.Tensor,
        mass: torch.Tensor,
        share: torch.Tensor,
        q: torch.Tensor,
        active: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Models trained without ``short_term``: the current state joins the interests that
        own the latest events, by their share and a gate."""
        now = states[:, :, None, :].expand_as(long_k)
        g = torch.sigmoid(self.gate(torch.cat([long_k, now], dim=-1)))
        interests = long_k + share[..., None] * g * now  # (B, T, K, D)
        score = (
            self.mix[0] * torch.log(mass + 1e-4)
            + self.mix[1] * torch.log(share + 1e-4)
            + (interests * q).sum(-1) / long_k.shape[-1] ** 0.5
        )
        if active is not None:
            interests = interests * active[..., None]
            score = score.masked_fill(active == 0, float("-inf"))
        return interests, torch.softmax(score, dim=-1)

    def active(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """(B, T, K) 1 for the interests a prefix keeps, 0 for the others (None: all kept).

        MIND's dynamic number of interests: a prefix of ``n`` events keeps
        ``max(1, min(K, floor(log2 n)))`` of them (2-3 events: 1; 4-7: 2; 8-15: 3; 16 or
        more: 4 of 4), the prototypes its events lean to most (their summed first-round
        assignment), so a light user's few events are not split into K near-copies."""
        if not self.dynamic:
            return None
        n = mask.sum(-1)  # (B, T)
        keep = torch.floor(torch.log2(n.clamp(min=1.0))).clamp(1, self.k)  # (B, T)
        pull = (torch.softmax(logits, dim=-1) * mask[..., None]).sum(2)  # (B, T, K)
        rank = pull.argsort(-1, descending=True).argsort(-1)  # 0: the strongest pull
        return (rank < keep[..., None]).to(logits.dtype).detach()

    def _assign(
        self, logits: torch.Tensor, mask: torch.Tensor, active: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, S, K) logits -> each event's share per interest (rows sum to 1 on real
        events), balanced over the interests by Sinkhorn iterations; ``active`` (B, T, K):
        only the interests kept (see :meth:`active`) get events."""
        if active is not None:
            logits = logits.masked_fill(active[:, :, None, :] == 0, -1e9)
        c = torch.softmax(logits, dim=-1) * mask[..., None]
        # events in the prefix (>= 1: padded positions would give 0 ** balance, NaN gradients)
        n = mask.sum(-1).clamp(min=1.0)[..., None, None]  # (B, T, 1, 1)
        kept = self.k if active is None else active.sum(-1)[..., None, None]  # (B, T, 1, 1)
        for _ in range(self.sinkhorn):
            col = c.sum(2, keepdim=True)  # (B, T, 1, K)
            c = c * ((n / kept) / (col + 1e-6)) ** self.balance
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
    interests: torch.Tensor,
    target: torch.Tensor,
    mode: str = "hard",
    temperature: float = 1.0,
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pick the user vector that explains ``target``: interests (M, K, D), target (M, D) -> (M, D).

    ``hard``: the interest with the highest inner product (ComiRec); ``soft``: label-aware
    attention over interests (MIND). ``active`` (M, K): the interests each row has (dynamic
    K); only those are read.
    """
    sim = torch.einsum("mkd,md->mk", interests, target)  # (M, K)
    if active is not None:
        sim = sim.masked_fill(~active, float("-inf"))
    if mode == "hard":
        k = sim.argmax(dim=-1)
        return interests[torch.arange(interests.shape[0], device=interests.device), k]
    if mode == "soft":
        att = F.softmax(sim / temperature, dim=-1)
        return torch.einsum("mk,mkd->md", att, interests)
    raise ValueError(f"unknown readout {mode!r}; expected 'hard' or 'soft'")
