"""The list a user without history gets: popular items lifted by the request's context and the
user's profile (:class:`~prismrec.serving.engine.coldstart.PopularityPrior`), diversified."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from prismrec.errors import DataError
from prismrec.retrieval.pipeline import Request
from prismrec.retrieval.rerank import mmr
from prismrec.serving.engine._history import Featurizer
from prismrec.serving.engine.coldstart import PopularityPrior
from prismrec.serving.engine.items import LiveItems

__all__ = ["ColdLists"]


@dataclass
class ColdLists:
    """Cold-start lists over the live catalogue.

    Attributes:
        popularity: global and per-segment item counts.
        items: the live catalogue, its index and lock.
        featurizer: turns the request's context into segment codes.
        user_attrs: ``user_<attr>`` -> (n_users,) codes of the training users (0: unknown).
        vocab: ``user_<attr>`` -> value -> code, for the ``profile=`` a request names.
        diversity: the re-ranking strength when the request asks for none.
    """

    popularity: PopularityPrior
    items: LiveItems
    featurizer: Featurizer
    user_attrs: Mapping[str, np.ndarray]
    vocab: Mapping[str, Mapping[str, int]]
    diversity: float

    @property
    def profile_keys(self) -> list[str]:
        """The user attributes the model knows (the keys ``profile=`` may name)."""
        return sorted(k[5:] for k in self.user_attrs)

    def check_profile(self, profile: Mapping[str, str]) -> None:
        """Raises DataError naming the attributes the model does not know."""
        unknown = sorted(set(profile) - set(self.profile_keys))
        if unknown:
            raise DataError(
                f"unknown profile attribute(s) {unknown}; this model knows {self.profile_keys}"
            )

    def _profile_codes(self, user_row: int, profile: Mapping[str, str]) -> dict[str, int]:
        out = {}
        for name, arr in self.user_attrs.items():
            if 0 <= user_row < len(arr) and arr[user_row] > 0:
                out[name] = int(arr[user_row])
        for key, value in profile.items():
            vocab = self.vocab.get(f"user_{key}", {})
            if value in vocab:
                out[f"user_{key}"] = vocab[value]
        return out

    def recommend(
        self,
        user_id: str,
        user_row: int,
        request: Request,
        context: Mapping[str, str],
        profile: Mapping[str, str],
    ) -> dict[str, Any]:
        """The answer for ``user_id`` (training row ``user_row``, -1: none)."""
        segments = self.featurizer.context_codes(dict(context), int(time.time()))
        segments.update(self._profile_codes(user_row, profile))
        scores = self.popularity.scores(segments)
        catalog = self.items.catalog
        n_rows = catalog.n_rows
        scores = (
            scores[:n_rows]
            if len(scores) >= n_rows
            else np.pad(scores, (0, n_rows - len(scores)), constant_values=-np.inf)
        )
        with self.items.lock.read():
            scores = np.where(catalog.live_mask(), scores, -np.inf)
            if request.exclude_categories:
                meta = catalog.metadata
                codes = self.items.retriever.category_codes(request.exclude_categories)
                if meta.categories is not None and codes:
                    scores[np.isin(meta.categories, codes).any(1)] = -np.inf
            pool = np.argsort(-scores)[: max(request.k * 5, 50)]
            pool = pool[np.isfinite(scores[pool])]
            dim = self.items.encoder.dim
            vecs = self.items.index.vectors(pool) if len(pool) else np.zeros((0, dim))
        diversity = request.diversity if request.diversity > 0 else self.diversity
        order: Any = mmr(scores[pool], vecs, request.k, diversity) if len(pool) else []
        items = [
            {
                "item_id": catalog.external([pool[j]])[0],
                "score": round(float(scores[pool[j]]), 6),
            }
            for j in order
        ]
        return {
            "user_id": user_id,
            "source": "popular",
            "lifted_by": self.popularity.applicable(segments),
            "items": items,
        }
