"""The offline scorer's scores for served candidates: co-occurrence priors and repeat bias.

Offline, prism scores every item twice over (``training.scorer.Scorer.final_scores`` and
``interest_scores``); this is the same rule on a candidate set, built from the model's
``Scorer`` (:meth:`ScorePriors.from_scorer`: its prior, floor, window, bias and quota rule):

- the *final* score: the mixture log-probability (or the best interest's logit) z-scored over
  the catalogue, plus ``cooc_weight`` times the z-scored log co-occurrence prior of the latest
  events, plus the repeat bias (in logit units, so divided by the spread) and a popularity
  tie-breaker;
- each interest's *own* score: its logits z-scored, plus ``quota_prior_weight`` times the
  z-scored prior of the window that interest attends to, plus the same bias and tie-breaker.

A served request sees only the candidates its searches found, but most catalogue-wide
statistics need not be estimated from them:

- the logits' mean and spread over all items follow from the item vectors' first and second
  moments (``mean = v . m``, ``E[s^2] = v^T S v``), kept up to date as items change
  (``retrieval.moments.ItemMoments``);
- a prior is sparse: every item outside its support has the same value (plus the tie-breaker of
  ``itemknn``, a fixed vector), so its mean and spread are exact sums over the support;
- the mixture needs each interest's log-normaliser and the mixture's own mean and spread: these
  come from a reference set of catalogue items, the whole catalogue up to ``reference_size``
  (4,096: exact) and a fixed-seed sample of that size above it (the candidates, which hold the
  head a sample would miss, are added to the normalisers).

So up to 4,096 items a served candidate's scores are the offline ones, to float error. The
interests' priors also nominate candidates (each interest's strongest prior items), which the
vector search alone might miss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from prismrec.config import ModelConfig
from prismrec.retrieval.moments import FinalStats, HistoryBias, ItemMoments, spread
from prismrec.training.baselines import ItemKNN
from prismrec.training.logspace import log_sum_exp
from prismrec.training.scorer import (
    PRIOR_FLOOR,
    FreshRule,
    QuotaRule,
    Scorer,
    combine,
    fresh_items,
    mixture_log_prob,
    unseen_items,
)

if TYPE_CHECKING:
    from prismrec.training.contract import SequenceModel

__all__ = ["Prior", "ScorePriors"]

_FLOOR = PRIOR_FLOOR


class ScorePriors:
    """Per-interest own scores of served candidates, as the offline scorer computes them.

    Args:
        similarity: (N0+1, N0+1) item-to-item co-occurrence (the model's ``itemknn``), or None.
        weight: the co-occurrence prior's weight in the final score (``cooc_weight``).
        own_weight: its weight in the interests' own scores (``quota_prior_weight``); None:
            ``weight``.
        moments: the catalogue's item-vector moments.
        repeat: ``history ->`` its :class:`HistoryBias`, the learned repeat bias (None: none).
        popularity: (N0+1,) the model's tie-breaker, added to every score offline.
        decay: recency decay of the one-interest prior (the ``itemknn`` scorer's; None: its
            default, ``[model] recency_decay``).
        prior_popularity: (N0+1,) the ``itemknn`` scorer's own tie-breaker, part of the
            one-interest prior offline.
        mixture: the model's final score is its mixture log-probability (``readout =
            "mixture"``); otherwise the best interest's logit.
        reference_size: catalogue items the final score's statistics are taken over; a
            catalogue this size or smaller is used whole (exact), a larger one is sampled.
        quota: the offline scorer's interest-quota merge (``interest_quota``); ``None``: no
            quotas, the list is the best by final score (as offline without quotas).
        fresh: the offline scorer's fresh-item slots (``fresh_share``), or None.
        recent_events: the latest events the one-interest prior reads (``itemknn``'s).
        seen: (N0+1,) the items the prior was fitted with (``ItemKNN.seen``); for the others the
            net's z-score stands in (``training.scorer.combine``). None: every item with a
            similarity row.
    """

    def __init__(
        self,
        similarity: sp.csr_matrix | None,
        weight: float,
        moments: ItemMoments,
        repeat: Callable[[np.ndarray], HistoryBias] | None = None,
        popularity: np.ndarray | None = None,
        decay: float | None = None,
        prior_popularity: np.ndarray | None = None,
        mixture: bool = True,
        reference_size: int = 4096,
        own_weight: float | None = None,
        quota: QuotaRule | None = None,
        recent_events: int = ItemKNN.recent_events,
        seen: np.ndarray | None = None,
        fresh: FreshRule | None = None,
    ) -> None:
        self.similarity = None if similarity is None else similarity.tocsr()
        self.weight = float(weight) if similarity is not None else 0.0
        own = self.weight if own_weight is None else float(own_weight)
        self.own_weight = own if similarity is not None else 0.0
        self.moments = moments
        self.repeat = repeat
        self.popularity = popularity
        self.decay = ModelConfig().recency_decay if decay is None else float(decay)
        self.prior_popularity = prior_popularity
        self.mixture = mixture
        self.reference_size = reference_size
        self.quota = quota
        self.fresh = fresh
        self.recent_events = recent_events
        n0 = 0 if self.similarity is None else self.similarity.shape[0]
        self.seen = np.ones(n0, bool) if seen is None else np.asarray(seen, bool)
        self._reference: tuple[int, int, np.ndarray, np.ndarray] | None = None
        self._bases: dict[tuple[int, int, bool], tuple[np.ndarray, float, float]] = {}

    @classmethod
    def from_scorer(cls, scorer: Scorer, ids: np.ndarray, vectors: np.ndarray) -> ScorePriors:
        """The candidate-set form of ``scorer`` over the catalogue's (ids, vectors)."""
        cooc = scorer.cooc
        if cooc is None or (scorer.cooc_weight <= 0 and scorer.own_weight <= 0):
            cooc = None
        repeat = None
        if scorer.repeat is not None:

            def repeat(history: np.ndarray) -> HistoryBias:
                # the bias over the history's distinct items only (renumbered 1..n): the same
                # sums as over every item row, without a catalogue-sized vector per request
                hist = np.asarray(history, np.int64)
                items = np.unique(hist[hist > 0])
                compact = np.where(hist > 0, np.searchsorted(items, hist) + 1, 0)
                out = scorer.repeat_bias([compact], len(items) + 1)
                assert out is not None
                return HistoryBias(items, np.asarray(out[0, 1:], dtype=np.float64))

        return cls(
            None if cooc is None else cooc.similarity,
            0.0 if cooc is None else scorer.cooc_weight,
            ItemMoments(ids, vectors),
            repeat,
            scorer.popularity,
            None if cooc is None else float(cooc.model_config.recency_decay),
            None if cooc is None else cooc.popularity,
            scorer.mixture,
            own_weight=0.0 if cooc is None else scorer.own_weight,
            quota=scorer.quota,
            recent_events=ItemKNN.recent_events if cooc is None else cooc.recent_events,
            seen=None if cooc is None else cooc.seen,
            fresh=scorer.fresh,
        )

    @classmethod
    def without_prior(cls, ids: np.ndarray, vectors: np.ndarray) -> ScorePriors:
        """The scorer of a retriever given vectors alone (no model): each item's final score is
        the interests' mixture log-probability, each interest's own score its inner product;
        no prior, repeat bias, tie-breaker or quotas."""
        return cls(None, 0.0, ItemMoments(ids, vectors))

    @classmethod
    def from_model(cls, model: SequenceModel, ids: np.ndarray, vectors: np.ndarray) -> ScorePriors:
        """From a loaded sequence model (its ``scorer``) and the catalogue's (ids, vectors)."""
        return cls.from_scorer(model.scorer, ids, vectors)

    def interest_priors(
        self, attention: np.ndarray | None, history: np.ndarray, n_interests: int
    ) -> Prior:
        """Each interest's prior: its attention-weighted sum of the window's similarity rows.

        ``attention`` (K, L) is over the last L events of ``history``, left-padded. Without
        attention (one interest) the prior is the offline one-interest prior: the last
        ``recent_events`` events' rows weighted ``decay ** age``, plus the ``itemknn`` tie-breaker.
        """
        assert self.similarity is not None
        n0 = self.similarity.shape[0]
        hist = np.asarray(history, np.int64).reshape(-1)
        if attention is None:
            window = hist[-self.recent_events :]
            att = np.tile(self.decay ** np.arange(len(window) - 1, -1, -1.0), (n_interests, 1))
        else:
            att = np.asarray(attention, dtype=np.float64)
            L = att.shape[1]
            window = np.zeros(L, np.int64)
            tail = hist[-L:]
            if len(tail):
                window[L - len(tail) :] = tail
            att = att / np.maximum(att.sum(1, keepdims=True), 1e-12)
        K = len(att)
        known = (window > 0) & (window < n0)  # items born after training have no rows
        rows = np.repeat(np.arange(K), int(known.sum()))
        cols = np.tile(window[known], K)
        mix = sp.csr_matrix((att[:, known].ravel(), (rows, cols)), shape=(K, n0))
        extra = self.prior_popularity if attention is None else None
        return Prior((mix @ self.similarity).tocsr(), extra)

    def nominate(self, prior: Prior, n: int) -> np.ndarray:
        """Each interest's ``n`` strongest prior items, as one array of distinct ids."""
        out = []
        for k in range(prior.rows.shape[0]):
            row = prior.rows.getrow(k)
            if row.nnz:
                top = np.argsort(-row.data, kind="stable")[:n]
                out.append(row.indices[top])
        return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def scores(
        self,
        vecs: np.ndarray,
        weights: np.ndarray,
        items: np.ndarray,
        item_vecs: np.ndarray,
        history: np.ndarray,
        prior: Prior | None,
        index: Any,
        *,
        repeat: HistoryBias | None = None,
        stats: FinalStats | None = None,
        recency: Prior | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K, M) own scores and (M,) final scores of the candidates, sharing their logits and
        repeat bias (see :meth:`own_scores` and :meth:`final_scores`). ``repeat``, ``stats``
        and ``recency``: the history's :meth:`repeat_vector`, these candidates'
        :meth:`final_stats` and the history's :meth:`recency_prior`, if already computed."""
        v, items, logits = self._logits(vecs, items, item_vecs)
        rep = self._repeat_at(items, history, repeat)
        own = self._own(v, items, logits, rep, prior)
        if stats is None:
            stats = self._stats(v, weights, logits, index)
        if recency is None:
            recency = self.recency_prior(history)
        return own, self._final(v, weights, items, logits, rep, recency, stats)

    def own_scores(
        self,
        vecs: np.ndarray,
        items: np.ndarray,
        item_vecs: np.ndarray,
        history: np.ndarray,
        prior: Prior | None,
        repeat: HistoryBias | None = None,
    ) -> np.ndarray:
        """(K, M) each interest's own score of each candidate item (see the module notes).
        ``repeat``: the history's :meth:`repeat_vector`, if already computed."""
        v, items, logits = self._logits(vecs, items, item_vecs)
        return self._own(v, items, logits, self._repeat_at(items, history, repeat), prior)

    @staticmethod
    def _logits(
        vecs: np.ndarray, items: np.ndarray, item_vecs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = np.asarray(vecs, dtype=np.float64)
        return v, np.asarray(items, np.int64), v @ np.asarray(item_vecs, dtype=np.float64).T

    def _own(
        self,
        v: np.ndarray,
        items: np.ndarray,
        logits: np.ndarray,
        rep: np.ndarray,
        prior: Prior | None,
    ) -> np.ndarray:
        if prior is None or self.own_weight <= 0:
            # offline z-scores the logits only to add the prior; without it they stay raw
            return combine(logits, 1.0, None, 0.0, rep[None, :], self._tie(items))
        mean, sd = self.moments.logit_stats(v)
        z = (logits - mean[:, None]) / sd[:, None]
        prior_z = self.prior_z(prior, items)
        unseen = unseen_items(items, self.seen)
        return combine(
            z, sd[:, None], prior_z, self.own_weight, rep[None, :], self._tie(items), unseen
        )

    def fresh_items(self, items: np.ndarray) -> np.ndarray:
        """(M,) True for the fresh ``items`` (no training event; ``training.scorer``)."""
        if self.popularity is None:  # vectors alone, no model: nothing is known to be trained
            return np.zeros(len(items), bool)
        return fresh_items(items, self.popularity)

    def repeat_vector(self, history: np.ndarray) -> HistoryBias | None:
        """The history's learned repeat bias (None: none to add)."""
        if self.repeat is None or not len(history):
            return None
        return self.repeat(np.asarray(history, np.int64))

    def _repeat_at(
        self, items: np.ndarray, history: np.ndarray, rep: HistoryBias | None = None
    ) -> np.ndarray:
        """(M,) the learned repeat bias of the candidates (0 for items not in the history)."""
        rep = self.repeat_vector(history) if rep is None else rep
        return np.zeros(len(items)) if rep is None else rep.at(items)

    def _tie(self, items: np.ndarray) -> np.ndarray:
        """(M,) the model's popularity tie-breaker (0 for items born after training)."""
        out = np.zeros(len(items))
        if self.popularity is not None:
            inside = items < len(self.popularity)
            out[inside] = self.popularity[items[inside]]
        return out

    def reference(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the catalogue items the final score's statistics come from:
        all of them up to ``reference_size``, else a fixed-seed sample; rebuilt after changes."""
        key = (id(index), self.moments.version)
        if self._reference is None or self._reference[:2] != key:
            ids = np.sort(np.asarray(index.ids(), np.int64))
            if len(ids) > self.reference_size:
                pick = np.random.default_rng(0).choice(len(ids), self.reference_size, False)
                ids = np.sort(ids[pick])
            vecs = np.asarray(index.vectors(ids), np.float32) if len(ids) else np.zeros((0, 1))
            self._reference = (*key, ids, vecs)
        return self._reference[2], self._reference[3]

    def final_scores(
        self,
        vecs: np.ndarray,
        weights: np.ndarray,
        items: np.ndarray,
        item_vecs: np.ndarray,
        history: np.ndarray,
        index: Any,
    ) -> np.ndarray:
        """(M,) the offline final score of each candidate: the mixture log-probability (or the
        best interest's logit) z-scored over the catalogue plus the one-interest recency prior,
        the repeat bias and the tie-breaker (``PrismRecommender.score``).

        Statistics come from :meth:`reference`; exact when it is the whole catalogue.
        """
        v, items, logits = self._logits(vecs, items, item_vecs)
        rep, recency = self._repeat_at(items, history), self.recency_prior(history)
        stats = self._stats(v, weights, logits, index)
        return self._final(v, weights, items, logits, rep, recency, stats)

    def recency_prior(self, history: np.ndarray) -> Prior | None:
        """The one-interest recency prior of the final score (None: the score has none)."""
        if self.similarity is None or self.weight <= 0:
            return None
        return self.interest_priors(None, history, 1)

    def final_stats(
        self,
        vecs: np.ndarray,
        weights: np.ndarray,
        items: np.ndarray,
        item_vecs: np.ndarray,
        index: Any,
    ) -> FinalStats:
        """The catalogue statistics the final scores of these candidates are normalised by
        (see :meth:`final_scores`): they depend on the interests, the weights and the
        candidates, not on the history, so a user's repeat requests can reuse them."""
        v, _, logits = self._logits(vecs, items, item_vecs)
        return self._stats(v, weights, logits, index)

    def catalogue_scores(
        self,
        vecs: np.ndarray,
        weights: np.ndarray,
        ids: np.ndarray,
        item_vecs: np.ndarray,
        history: np.ndarray,
        repeat: HistoryBias | None = None,
        recency: Prior | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(M,) the final score of every item of a whole catalogue (``ids``, ``item_vecs``: all
        of its items), its statistics taken over exactly these items; and the interests' (K,)
        log-normalisers. The exhaustive path: one product with the catalogue, no sample.
        ``repeat``, ``recency``: as in :meth:`scores`."""
        v = np.asarray(vecs, dtype=np.float32)
        if not len(ids):
            return np.zeros(0), np.zeros(len(v))
        logits = (v @ np.asarray(item_vecs, np.float32).T).astype(np.float64)  # (K, M)
        lse = log_sum_exp(logits, axis=1)
        mixed = self.mixture and len(v) > 1
        s = mixture_log_prob(logits, weights, lse) if mixed else logits.max(0)
        mean, sd = spread(s)
        rep = self._repeat_at(ids, history, repeat)
        if recency is None:
            recency = self.recency_prior(history)
        return self._with_recency_prior(s, mean, sd, ids, rep, recency), lse

    def _stats(
        self, v: np.ndarray, weights: np.ndarray, cand: np.ndarray, index: Any
    ) -> FinalStats:
        ref_ids, ref_vecs = self.reference(index)
        ref = (v.astype(np.float32) @ ref_vecs.T).astype(np.float64)  # (K, R)
        if not (self.mixture and len(v) > 1):
            return FinalStats(np.zeros(len(v)), *spread(ref.max(0)))
        # each interest's log-normaliser: over the whole catalogue when the reference is the
        # whole catalogue; else the candidates (the head, which a sample would miss) plus the
        # sample scaled up to the catalogue
        if len(ref_ids) >= self.moments.n:
            lse = log_sum_exp(ref, axis=1)
        else:
            scale = max(self.moments.n - cand.shape[1], 1) / max(len(ref_ids), 1)
            lse = np.logaddexp(log_sum_exp(cand, axis=1), log_sum_exp(ref, axis=1) + np.log(scale))
        return FinalStats(lse, *spread(mixture_log_prob(ref, weights, lse)))

    def _final(
        self,
        v: np.ndarray,
        weights: np.ndarray,
        items: np.ndarray,
        cand: np.ndarray,
        rep: np.ndarray,
        recency: Prior | None,
        stats: FinalStats,
    ) -> np.ndarray:
        mixed = self.mixture and len(v) > 1
        s = mixture_log_prob(cand, weights, stats.lse) if mixed else cand.max(0)
        return self._with_recency_prior(s, stats.mean, stats.sd, items, rep, recency)

    def _with_recency_prior(
        self,
        s: np.ndarray,
        mean: float,
        sd: float,
        items: np.ndarray,
        rep: np.ndarray,
        recency: Prior | None,
    ) -> np.ndarray:
        """(M,) final scores of ``items`` from their net scores ``s``: with the one-interest
        ``recency`` prior (:meth:`recency_prior`), ``s`` is z-scored by the ``mean`` and
        spread ``sd`` of the catalogue's net scores (all of them, or a reference sample) and
        the prior, the repeat bias and the tie-breaker are added (``combine``); without, only
        the bias and the tie-breaker."""
        tie = self._tie(items)
        if self.similarity is None or self.weight <= 0:
            return combine(s, 1.0, None, 0.0, rep, tie)
        assert recency is not None
        prior_z = self.prior_z(recency, items)[0]
        z, unseen = (s - mean) / sd, unseen_items(items, self.seen)
        return combine(z, sd, prior_z, self.weight, rep, tie, unseen)

    def _base(self, extra: np.ndarray | None) -> tuple[np.ndarray, float, float]:
        """Every live item's log prior where the sparse part is 0 (``log(extra + floor)``), and
        its sum and sum of squares over the live items; kept until the catalogue changes.
        ``extra`` is None or always the same vector (the itemknn tie-breaker)."""
        key = (self.moments.version, len(self.moments.live), extra is None)
        cached = self._bases.get(key)
        if cached is None:
            live = self.moments.live
            base = np.full(len(live), np.log(_FLOOR))
            if extra is not None:
                m = min(len(base), len(extra))
                base[:m] = np.log(extra[:m].astype(np.float64) + _FLOOR)
            cached = (base, float(base[live].sum()), float((base[live] ** 2).sum()))
            self._bases = {k: v for k, v in self._bases.items() if k[:2] == key[:2]}
            self._bases[key] = cached
        return cached

    def prior_z(self, prior: Prior, items: np.ndarray) -> np.ndarray:
        """(K, M) z-scored ``log(prior + 1e-4)`` of the candidates, stats over the catalogue."""
        rows = prior.rows
        K, n0 = rows.shape
        live = self.moments.live
        n = max(self.moments.n, 1)
        base, base_sum, base_sq = self._base(prior.extra)
        cols = np.where(items < n0, items, 0)
        vals = np.asarray(rows[:, cols].todense(), dtype=np.float64)  # (K, M)
        vals[:, items >= n0] = 0.0
        cand = np.zeros(len(items))  # the extra term of each candidate
        if prior.extra is not None:
            inside = items < len(prior.extra)
            cand[inside] = prior.extra[items[inside]]
        out = np.empty((K, len(items)))
        for k in range(K):
            row = rows.getrow(k)
            idx = row.indices
            sel = idx < len(live)
            idx, data = idx[sel], row.data[sel].astype(np.float64)
            on = live[idx]
            idx, data = idx[on], data[on]
            x = np.log(data + np.exp(base[idx]))  # support items: log(sparse + extra + floor)
            s1 = base_sum - base[idx].sum() + x.sum()
            s2 = base_sq - (base[idx] ** 2).sum() + (x**2).sum()
            mean = s1 / n
            sd = np.sqrt(max(s2 / n - mean**2, 0.0)) + 1e-9
            out[k] = (np.log(vals[k] + cand + _FLOOR) - mean) / sd
        return out


class Prior(NamedTuple):
    """Per-interest priors: a sparse part (K, N0+1) and an optional dense extra (N0+1,)."""

    rows: sp.csr_matrix
    extra: np.ndarray | None
