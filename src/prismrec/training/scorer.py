"""The one scoring rule of the sequence models: what `recommend`, `evaluate` and serving rank.

From the interests' item logits (B, K, N+1) and mixture weights (B, K):

- the *final* score: the mixture log-probability ``log sum_k w_k softmax_k`` (or, without a
  mixture read-out, the best interest's logit); with the co-occurrence prior it is z-scored over
  the catalogue and ``cooc_weight`` times the z-scored ``log(prior + PRIOR_FLOOR)`` of the
  latest events is added; then the learned repeat bias (in logit units: divided by the
  spread when z-scored) and the popularity tie-breaker;
- each interest's *own* score: its log posterior ``log w_k + log softmax_k``, plus, with the
  prior, ``own_weight`` times the z-scored prior of the events that interest attends to; the
  same bias and tie-breaker. These pick an interest's quota slots (:class:`QuotaRule`).

The service scores candidate sets with the same pieces (``retrieval.priors.ScorePriors`` reads
the prior, its floor and window, the bias and the quota rule from a :class:`Scorer`), so the
served list is the evaluated list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from prismrec.models.interests import held
from prismrec.models.repeat import RepeatBias
from prismrec.training.base import History, item_array
from prismrec.training.baselines import ItemKNN
from prismrec.training.logspace import log_sum_exp, log_weights
from prismrec.training.quota import draft, interest_posteriors, quota_rerank, slot_weights

__all__ = [
    "PRIOR_FLOOR",
    "FreshRule",
    "QuotaRule",
    "Scorer",
    "combine",
    "fresh_items",
    "mixture_log_prob",
    "standardise",
    "unseen_items",
]

PRIOR_FLOOR = 1e-4
"""A prior enters as ``log(prior + PRIOR_FLOOR)``: items without co-occurrence stay finite."""


def standardise(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row z-scores over the real items (column 0 is padding), and the rows' spreads."""
    body = s[:, 1:]
    mu, sd = body.mean(1, keepdims=True), body.std(1, keepdims=True) + 1e-9
    out = (s - mu) / sd
    out[:, 0] = 0.0
    return out, sd


def combine(
    net: np.ndarray,
    sd: np.ndarray | float,
    prior_z: np.ndarray | None,
    weight: float,
    repeat: np.ndarray | float,
    tie: np.ndarray | float,
    unseen: np.ndarray | None = None,
) -> np.ndarray:
    """The one rule that adds the priors to a net score (offline and served alike).

    With a prior, ``net`` is the net score z-scored over the catalogue and ``sd`` its spread:
    ``weight`` times the prior's z-score is added, then the repeat bias in the net's logit
    units (divided by ``sd``, and added after the prior so the prior cannot undo what the model
    learned about repeats), then the tie-breaker. Without one (``prior_z`` None), ``net`` is
    the raw net score and gets the bias and the tie-breaker.

    ``unseen`` (M,) marks the items the prior was not fitted with (new, or cold: no training
    event). Their prior is not evidence against them, and the floor's z-score would bury every
    one below the user's co-occurring items; the net's own z-score stands in for it, so a new
    item is ranked by what the model makes of its content, on the scale the prior would use.
    """
    if prior_z is None:
        return net + repeat + tie
    if unseen is not None and unseen.any():
        prior_z = np.where(unseen, net, prior_z)
    return net + weight * prior_z + repeat / sd + tie


def mixture_log_prob(logits: np.ndarray, weights: np.ndarray, lse: np.ndarray) -> np.ndarray:
    """The mixture's log-probability of each item, ``log sum_k w_k softmax_k(item)``: from
    (..., K, M) logits, (..., K) weights and (..., K) log-normalisers ``lse`` (each interest's
    ``log sum exp`` over the catalogue's items) -> (..., M), in the logits' precision. The one
    form the offline final score, the served candidates and the exhaustive served path all
    use."""
    dtype = np.result_type(logits.dtype, np.float32)
    shift = np.asarray(lse, dtype) - log_weights(weights, dtype)
    return log_sum_exp(np.asarray(logits, dtype) - shift[..., None], axis=-2)


def unseen_items(items: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """(M,) True for the ``items`` the prior was not fitted with (``seen`` is over its rows)."""
    items = np.asarray(items, np.int64)
    out = items >= len(seen)
    inside = ~out
    out[inside] = ~np.asarray(seen, bool)[items[inside]]
    return out


@dataclass(frozen=True)
class QuotaRule:
    """The interest-quota merge (``interest_quota``): each interest drafts its share of a list.

    Attributes:
        n_long: long-term interests (a short-term row may follow them).
        short_share: the short-term row's fixed share of the list.
        depth: an interest picks among the overall best ``depth * k`` items (None: all).
        temperature: flattens the weights the slots follow.
    """

    n_long: int
    short_share: float
    depth: int | None = 4
    temperature: float = 1.0

    def slots(self, weights: np.ndarray) -> np.ndarray:
        """(B, R) mixture weights -> (B, R) the shares the quotas follow."""
        return slot_weights(np.asarray(weights, np.float64), self.n_long, self.short_share)

    def draft(
        self, scores: np.ndarray, own_scores: np.ndarray, weights: np.ndarray, k: int
    ) -> np.ndarray:
        """(B, N) which interest drafted each item into its slots (-1: none), from (B, N) final
        scores, (B, K, N) own scores and (B, K) weights: what :meth:`rerank` lifts, for a
        caller (the service) that orders and re-ranks the list itself."""
        return draft(
            np.asarray(scores, np.float64),
            own_scores,
            self.slots(weights),
            k,
            self.depth,
            self.temperature,
        )

    def rerank(
        self, scores: np.ndarray, own_scores: np.ndarray, weights: np.ndarray, k: int
    ) -> np.ndarray:
        """Scores (B, N+1) whose top ``k`` is the quota-merged list."""
        return quota_rerank(
            scores, own_scores, self.slots(weights), k, self.depth, self.temperature
        )


def fresh_items(items: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """(M,) True for the *fresh* ``items``: those without a training event (cold in training,
    or added since: rows past the model's ``popularity`` tie-breaker, which is 0 exactly for
    items no training event names). Padding (row 0) is not fresh."""
    items = np.asarray(items, np.int64)
    fresh = unseen_items(items, np.asarray(popularity) > 0)
    fresh[items == 0] = False
    return fresh


@dataclass(frozen=True)
class FreshRule:
    """Exploration (``fresh_share``): a share of each list kept for fresh items
    (:func:`fresh_items`).

    A fresh item has no co-occurrence evidence and no trained ID, so the final score puts it
    below the items users were seen with, however well its content matches. When a ``k``-long
    list holds fewer than ``slots(k)`` fresh items, its lowest other items give way to the
    best fresh items by final score among the user's overall best ``depth * k`` (so a fresh
    item must match the user's interests to be shown); the list stays in final-score order.
    Offline (``evaluate``) and served lists apply this same rule.

    Attributes:
        share: the share of a list's slots (``round(share * k)`` slots).
        depth: a fresh item must rank among the best ``depth * k`` items.
    """

    share: float
    depth: int

    def slots(self, k: int) -> int:
        return int(self.share * k + 0.5)

    def apply(self, order: np.ndarray, scores: np.ndarray, fresh: np.ndarray, k: int) -> np.ndarray:
        """The list (positions into ``scores``) with its fresh slots filled.

        ``order`` (<= k,) is the list before (positions, best first), ``scores`` (M,) every
        candidate's final score (``-inf``: not a candidate), ``fresh`` (M,) which candidates
        are fresh. Returns the positions of the new list in final-score order.
        """
        order = np.asarray(order, np.int64)[:k]
        need = self.slots(k) - int(fresh[order].sum())
        if need <= 0:
            return order
        ok = np.isfinite(scores)
        depth = min(self.depth * k, int(ok.sum()))
        if depth <= 0:
            return order
        pool = np.argpartition(-np.where(ok, scores, -np.inf), depth - 1)[:depth]
        pool = pool[fresh[pool] & ~np.isin(pool, order)]  # the pool is finite: depth <= ok
        best = pool[np.argsort(-scores[pool], kind="stable")][:need]
        if not len(best):
            return order
        listed = order[fresh[order]]
        # the other items keep the places left, best first (slots(k) <= k: room >= 0)
        room = k - len(listed) - len(best)
        new = np.concatenate([listed, order[~fresh[order]][:room], best])
        return new[np.argsort(-scores[new], kind="stable")]


class Scorer:
    """Final and per-interest scores from interest logits (see the module notes).

    Args:
        popularity: (N0+1,) the tie-breaker added to every score.
        mixture: the final score is the mixture log-probability (else the best logit).
        cooc: the co-occurrence prior (an ``itemknn`` fitted on the same data), or None.
        cooc_weight: the prior's weight in the final score.
        own_weight: the prior's weight in the interests' own scores.
        repeat: the learned repeat/explore bias, or None.
        quota: the quota merge, or None (the list is the best by final score).
        fresh: the fresh-item slots (exploration), or None.
    """

    def __init__(
        self,
        popularity: np.ndarray,
        *,
        mixture: bool = True,
        cooc: ItemKNN | None = None,
        cooc_weight: float = 0.0,
        own_weight: float = 0.0,
        repeat: RepeatBias | None = None,
        quota: QuotaRule | None = None,
        fresh: FreshRule | None = None,
    ) -> None:
        self.popularity = popularity
        self.mixture = mixture
        self.cooc = cooc
        self.cooc_weight = float(cooc_weight) if cooc is not None else 0.0
        self.own_weight = float(own_weight) if cooc is not None else 0.0
        self.repeat = repeat
        self.quota = quota
        self.fresh = fresh

    def with_fresh(self, scores: np.ndarray, listed: np.ndarray | None, k: int) -> np.ndarray:
        """(B, N+1) scores whose top ``k`` is the list with its fresh slots filled
        (:class:`FreshRule`); ``listed`` (B, N+1) ranks the list before (None: ``scores``)."""
        assert self.fresh is not None
        base = scores if listed is None else listed
        fresh = fresh_items(np.arange(scores.shape[1]), self.popularity)
        out = np.full(scores.shape, -np.inf, dtype=np.float64)
        top = np.argsort(-base, axis=1, kind="stable")[:, :k]
        for b in range(len(scores)):
            order = top[b][np.isfinite(base[b, top[b]])]
            new = self.fresh.apply(order, scores[b], fresh, k)
            # the new list, in final-score order, above every other item
            out[b, new] = len(new) - np.arange(len(new))
        return out

    def repeat_bias(self, histories: Sequence[History], n_cols: int) -> np.ndarray | None:
        """(B, n_cols) learned repeat/explore bias over each whole history, or None."""
        if self.repeat is None:
            return None
        seqs = [item_array(h) for h in histories]
        width = max([1, *(len(h) for h in seqs)])
        mat = np.zeros((len(seqs), width), dtype=np.int64)
        for i, h in enumerate(seqs):
            if len(h):
                mat[i, width - len(h) :] = h
        device = next(self.repeat.parameters()).device
        with torch.inference_mode():
            return self.repeat.last(torch.from_numpy(mat).to(device), n_cols).cpu().numpy()

    def final_scores(
        self, logits: np.ndarray, weights: np.ndarray, histories: Sequence[History]
    ) -> np.ndarray:
        """(B, N+1) every item's final score from (B, K, N+1) logits and (B, K) weights."""
        parts = self.final_parts(logits, weights, histories, self.cooc_weight > 0)
        return self.with_priors(*parts, self.cooc_weight)

    def final_parts(
        self,
        logits: np.ndarray,
        weights: np.ndarray,
        histories: Sequence[History],
        with_prior: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """What the final score adds up, before the prior's weight: the (B, N+1) net score,
        the prior (None: no prior, or not ``with_prior``) and the repeat bias (or None).
        ``with_priors(*parts, weight)`` is the final score at prior weight ``weight``."""
        rep = self.repeat_bias(histories, logits.shape[2])
        s = self.net_score(logits, weights)
        prior = None
        if self.cooc is not None and with_prior:
            prior = self.cooc.score([item_array(h) for h in histories])
        return s, prior, rep

    def net_score(
        self, logits: np.ndarray, weights: np.ndarray, lse: np.ndarray | None = None
    ) -> np.ndarray:
        """(B, N+1) the net's score of every item: the mixture log-probability (or the best
        interest's logit). ``lse`` (B, K): the interests' log-normalisers, when known."""
        if logits.shape[1] > 1 and self.mixture:
            if lse is None:
                lse = log_sum_exp(logits[:, :, 1:], axis=2)
            s = mixture_log_prob(logits, weights, lse)
            s[:, 0] = 0.0
            return s
        return logits.max(axis=1)

    def interest_scores(
        self,
        logits: np.ndarray,
        weights: np.ndarray,
        attention: np.ndarray | None,
        window: np.ndarray,
        histories: Sequence[History],
    ) -> np.ndarray:
        """(B, K, N+1) each interest's own score of every item.

        ``attention`` (B, K, S) is each interest's attention over ``window`` (B, S), the
        left-padded item rows it read (None: no per-interest prior).
        """
        post = interest_posteriors(logits, weights)
        B, K, n = post.shape
        prior = None
        if self.cooc is not None and self.own_weight > 0 and attention is not None:
            att = attention / np.maximum(attention.sum(-1, keepdims=True), 1e-12)  # (B, K, S)
            ids = np.repeat(window, K, axis=0)  # (B*K, S): row b*K + k is interest k of user b
            rows = att.reshape(B * K, -1).astype(np.float32)
            prior = self.cooc.weighted_score(list(ids), list(rows))
        rep = self.repeat_bias(histories, n)
        rep = None if rep is None else np.repeat(rep, K, axis=0)
        own = self.with_priors(post.reshape(B * K, n), prior, rep, self.own_weight).reshape(B, K, n)
        # a row the user does not have is flat: z-scored to 0 with a prior, it would own the
        # items no held interest likes
        own[~held(np.asarray(weights))] = -np.inf
        return own

    def with_priors(
        self, s: np.ndarray, prior: np.ndarray | None, rep: np.ndarray | None, weight: float
    ) -> np.ndarray:
        """Net scores (R, N+1) plus ``weight`` times the prior (both z-scored), the repeat bias
        and the tie-breaker."""
        rep_ = 0.0 if rep is None else rep
        if prior is None:
            return combine(s, 1.0, None, weight, rep_, self.popularity)
        assert self.cooc is not None
        z, sd = standardise(s)
        prior_z = standardise(np.log(prior + PRIOR_FLOOR))[0]
        unseen = unseen_items(np.arange(prior_z.shape[1]), self.cooc.seen)
        return combine(z, sd, prior_z, weight, rep_, self.popularity, unseen)
