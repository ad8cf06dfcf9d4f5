"""A fitted prism net and how it scores: interests, item vectors, the shared ``Scorer``.

:class:`~prismrec.training.prism.PrismRecommender` adds how the net is built, trained,
calibrated and saved; this base holds what inference reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from prismrec.config import ModelConfig
from prismrec.models.interests import Interests
from prismrec.models.prism import PrismNet
from prismrec.training.base import History, Recommender
from prismrec.training.baselines import ItemKNN
from prismrec.training.scorer import FreshRule, QuotaRule, Scorer
from prismrec.training.trainer import module_device
from prismrec.training.windows import pad_histories

__all__ = ["PrismScoring"]


class PrismScoring(Recommender):
    """Inference of the prism recommender: everything that reads a fitted ``PrismNet``."""

    seq_len: int
    feature_sizes: dict[str, int]
    user_attr_arrays: dict[str, np.ndarray]
    net: PrismNet
    # the training data's behaviour type when it has only one (an item-id history is read as
    # events of it); 0: several, or a model saved before
    one_event_type: int = 0

    popularity: np.ndarray
    # the co-occurrence prior (None: none, or not fitted yet)
    cooc: ItemKNN | None = None
    cooc_weight: float

    def _effective(self) -> ModelConfig:
        return self.model_config

    @property
    def history_len(self) -> int:
        """Events an inference pass reads: more than the window when the long-term interests
        summarise older history (routed interests with a short-term row)."""
        if self.net.short_term:
            return max(self.seq_len, int(self._effective().history_len))
        return int(self.seq_len)

    @property
    def n_interests(self) -> int:
        """Interest rows per user: K long-term ones, plus the short-term one when present."""
        return int(self.net.k) + int(self.net.short_term)

    @property
    def score_rows(self) -> int:
        """Each item is scored once per interest row before the rows are merged."""
        return self.n_interests

    @property
    def long_term(self) -> int | None:
        """How many interest rows are long-term (None: no short-term row, all are alike)."""
        return int(self.net.k) if self.net.short_term else None

    # ---- inference ---------------------------------------------------------------------------
    def _batch(self, histories: Sequence[History], users: np.ndarray | None) -> tuple[dict, dict]:
        hs = [h if isinstance(h, dict) else self._item_history(h) for h in histories]
        feats = pad_histories(hs, ("item_idx", *self.feature_sizes), self.history_len)
        device = module_device(self.net)
        feats = {k: v.to(device) for k, v in feats.items()}
        ub: dict[str, torch.Tensor] = {}
        if self.user_attr_arrays:
            u = np.full(len(hs), -1) if users is None else np.asarray(users)
            for k, arr in self.user_attr_arrays.items():
                vals = np.where((u >= 0) & (u < len(arr)), arr[np.clip(u, 0, len(arr) - 1)], 0)
                ub[k] = torch.as_tensor(vals, dtype=torch.long, device=device)
        return feats, ub

    def _item_history(self, items: Any) -> dict[str, np.ndarray]:
        """A history of item rows alone. Trained on data with a single behaviour type, its
        events are of that type (as the evaluated histories are); with several, unknown."""
        h = {"item_idx": np.asarray(items, dtype=np.int64)}
        if self.one_event_type and "event_idx" in self.feature_sizes:
            h["event_idx"] = np.full(len(h["item_idx"]), self.one_event_type, dtype=np.int64)
        return h

    @torch.inference_mode()
    def interests(
        self,
        histories: Sequence[History] | None = None,
        users: Sequence[int] | np.ndarray | None = None,
    ) -> Interests:
        """The batch's interests: vectors (B, R, D), weights (B, R), attention (B, R, H); R is
        K, or K + 1 when the last row is the short-term interest (``n_long`` = K)."""
        self._check_fitted()
        user_arr = None if users is None else np.asarray(users, dtype=np.int64)
        if histories is None:
            assert user_arr is not None
            histories = [
                self.user_histories.get(int(u), {"item_idx": np.zeros(0, np.int64)})
                for u in user_arr
            ]
        self.net.eval()
        feats, ub = self._batch(histories, user_arr)
        out = self.net(feats, user_batch=ub, last_only=True)
        att = out["attention"]
        return Interests(
            out["interests"][:, -1].cpu().numpy(),
            out["weights"][:, -1].cpu().numpy(),
            att[:, -1].cpu().numpy() if att is not None else None,
            # the first K rows are long-term interests; a short-term row follows when present
            self.long_term,
        )

    @torch.inference_mode()
    def item_vectors(self) -> np.ndarray:
        """(N+1, D) the item vectors the interests score against (row 0: padding)."""
        self._check_fitted()
        self.net.eval()
        return self.net.item_table().cpu().numpy()

    @property
    def merge_rule(self) -> str:
        """How the interests' scores become one list: ``mixture``, ``max`` or ``quota``."""
        cfg = self._effective()
        if cfg.merge is not None:
            return cfg.merge
        if cfg.interest_quota:
            return "quota"
        return "mixture" if cfg.readout == "mixture" else "max"

    @property
    def scorer(self) -> Scorer:
        """The scoring rule ``score``, ``recommend`` and the service share (built on each
        access from the current weights and settings: nothing cached between calls)."""
        cfg = self._effective()
        cooc = self.cooc
        merge = self.merge_rule
        quota = None
        if merge == "quota" and self.net.k >= 2:
            quota = QuotaRule(
                self.net.k, cfg.quota_short_share, cfg.quota_depth, cfg.quota_temperature
            )
        own = 0.0
        if cooc is not None:
            w = cfg.quota_prior_weight
            own = self.cooc_weight if w is None else float(w)
        return Scorer(
            self.popularity,
            mixture=merge == "mixture" or (merge == "quota" and cfg.readout == "mixture"),
            cooc=cooc,
            cooc_weight=self.cooc_weight,
            own_weight=own,
            repeat=self.net.repeat,
            quota=quota,
            fresh=FreshRule(cfg.fresh_share, cfg.fresh_depth) if cfg.fresh_share > 0 else None,
        )

    @torch.inference_mode()
    def _logits(
        self, histories: Sequence[History], users: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """One inference pass: (B, K, N+1) logits, (B, K) weights, (B, K, S) attention (or
        None) and the (B, S) window of item rows the interests read."""
        self.net.eval()
        feats, ub = self._batch(histories, users)
        out = self.net(feats, user_batch=ub, last_only=True)
        last = out["interests"][:, -1]  # (B, K, D)
        logits = torch.einsum("bkd,nd->bkn", last, out["items"]).cpu().numpy()  # (B, K, N+1)
        att = out["attention"]
        return (
            logits,
            out["weights"][:, -1].cpu().numpy(),
            None if att is None else att[:, -1].cpu().numpy(),
            feats["item_idx"].cpu().numpy(),
        )

    def score(self, histories: Sequence[History], users: np.ndarray | None = None) -> np.ndarray:
        logits, weights, _, _ = self._logits(histories, users)
        return self.scorer.final_scores(logits, weights, histories)

    def interest_scores(
        self, histories: Sequence[History], users: np.ndarray | None = None
    ) -> np.ndarray:
        """(B, K, N+1) each interest's own score of every item (what picks its quota slots)."""
        self._check_fitted()
        logits, weights, att, window = self._logits(histories, users)
        return self.scorer.interest_scores(logits, weights, att, window, histories)

    def _rerank(
        self, histories: list[History], users: np.ndarray | None, scores: np.ndarray, k: int
    ) -> np.ndarray | None:
        """With ``interest_quota`` and K > 1: the list merged from the interests by quotas;
        with ``fresh_share``: its fresh-item slots filled (:class:`FreshRule`)."""
        scorer = self.scorer
        ranked = None
        if scorer.quota is not None:
            # a second pass rather than state kept from ``score``: the calls stay independent
            logits, weights, att, window = self._logits(histories, users)
            own = scorer.interest_scores(logits, weights, att, window, histories)
            ranked = scorer.quota.rerank(scores, own, weights, k)
        if scorer.fresh is not None:
            ranked = scorer.with_fresh(scores, ranked, k)
        return ranked
