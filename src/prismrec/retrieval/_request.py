"""What a retrieval request is made of: the items' side information, one user's interests,
the request's options, and the rule for interests a user does not have. Re-exported by
:mod:`prismrec.retrieval.pipeline`."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from prismrec.evaluation.interests import category_base_rates
from prismrec.models.interests import held
from prismrec.retrieval.multi import Steer, as_indices
from prismrec.retrieval.rerank import RerankMethod

if TYPE_CHECKING:
    from prismrec.evaluation.beyond import Catalog

__all__ = ["ItemMetadata", "Request", "without_absent"]


@dataclass(frozen=True)
class ItemMetadata:
    """Item side information, indexed by item id (row 0 is padding).

    Attributes:
        categories: (N+1, L) category (or keyword) codes, 0 = padding; ``None``: no category
            filters and no interest labels.
        category_names: name of code ``c`` at position ``c - 1``.
        content: (N+1, Dc) content vectors for the re-ranking similarity; ``None``: the
            index's own vectors are used.
    """

    categories: np.ndarray | None = None
    category_names: Sequence[str] = ()
    content: np.ndarray | None = None

    @cached_property
    def category_rates(self) -> np.ndarray | None:
        """Each category's share of the catalogue (what interest labels are ranked against)."""
        return None if self.categories is None else category_base_rates(self.categories)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> ItemMetadata:
        """From the evaluation catalogue (categories and, when present, its vectors)."""
        return cls(catalog.categories, list(catalog.category_names), catalog.vectors)


@dataclass(frozen=True)
class Request:
    """Options of one recommendation request.

    Attributes:
        k: list length.
        diversity: re-ranking strength in [0, 1] (0: plain score order).
        method: ``"mmr"`` or ``"dpp"``.
        exclude_categories: categories (codes, or names from ``ItemMetadata``) to drop.
        allow_list: when given, only these items may be recommended.
        max_per_category: at most this many items share one category.
        focus: interest index (or indices) to boost for this request.
        mute: interest index (or indices) to leave out for this request.
        explain: attach an explanation to every item.
        filter_seen: leave out the items of the history.
        fresh_share: this request's share of slots for items without a training event
            (``training.scorer.FreshRule``; 0: none); None: the model's ``fresh_share``.
    """

    k: int = 10
    diversity: float = 0.0
    method: RerankMethod = "mmr"
    exclude_categories: Collection[int | str] = ()
    allow_list: Collection[int] | None = None
    max_per_category: int | None = None
    focus: Steer = None
    mute: Steer = None
    explain: bool = False
    filter_seen: bool = True
    fresh_share: float | None = None


def without_absent(req: Request, weights: np.ndarray) -> tuple[Request, tuple[int, ...]]:
    """``req`` with the interests the user does not have (weight 0: a model with dynamic K
    gives a light user fewer than K) muted, and those interests; focusing one is an error."""
    absent = tuple(int(i) for i in np.flatnonzero(~held(np.asarray(weights).reshape(-1))))
    if not absent:
        return req, absent
    n = len(np.asarray(weights).reshape(-1))
    asked = set(as_indices(req.focus, n, "focus")) & set(absent)
    if asked:
        raise ValueError(
            f"interest(s) {sorted(asked)} are not among this user's interests (weight 0)"
        )
    mute = sorted(set(as_indices(req.mute, n, "mute")) | set(absent))
    return dataclasses.replace(req, mute=mute), absent
