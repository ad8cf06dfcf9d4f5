"""What serving needs from a trained sequence model: one declared type instead of ``getattr``.

``prism`` and ``sasrec`` (``PrismRecommender`` and its subclass) implement it; the service,
the interest encoder, the item encoder and the retriever take a :class:`SequenceModel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prismrec.errors import ConfigError
from prismrec.models.prism import PrismNet
from prismrec.training.base import History, Recommender
from prismrec.training.scorer import Scorer

__all__ = ["SequenceModel", "as_sequence_model"]


@runtime_checkable
class SequenceModel(Protocol):
    """A trained multi-interest sequence model as serving reads it.

    Attributes:
        name: the registered model name.
        n_items: items seen in training (item rows ``1..n_items``).
        seq_len: the transformer's window.
        feature_sizes: per-event feature columns (besides ``item_idx``) and their sizes.
        user_attr_arrays: per user row, the code of each user attribute.
        user_histories: training histories by user row.
        net: the network (item table, interests; ``k`` long-term interests).
        tower_kwargs: the content tower's settings (None: ID embeddings only).
        feature_spec: the content features the tower reads (None without a tower).
        content_settings: the text model settings new items are encoded with.
    """

    name: str
    n_items: int
    seq_len: int
    feature_sizes: dict[str, int]
    user_attr_arrays: dict[str, np.ndarray]
    user_histories: dict[int, dict[str, np.ndarray]]
    net: PrismNet
    tower_kwargs: dict[str, Any] | None
    feature_spec: dict[str, Any] | None
    content_settings: dict[str, Any] | None

    @property
    def history_len(self) -> int:
        """Events an inference pass reads."""
        ...

    @property
    def n_interests(self) -> int:
        """Interest rows per user: long-term ones, plus the short-term one when present."""
        ...

    @property
    def long_term(self) -> int | None:
        """How many of the rows are long-term (None: all are alike)."""
        ...

    @property
    def scorer(self) -> Scorer:
        """The scoring rule ``recommend`` and ``evaluate`` rank by."""
        ...

    def interests(
        self,
        histories: Sequence[History] | None = None,
        users: Sequence[int] | np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Interest vectors, weights, attention of each history."""
        ...

    def item_vectors(self) -> np.ndarray:
        """(N+1, D) the item vectors the interests score against."""
        ...


def as_sequence_model(model: Recommender) -> SequenceModel:
    """``model`` as a :class:`SequenceModel`; a ``ConfigError`` naming the fix otherwise."""
    if not isinstance(model, SequenceModel):
        raise ConfigError(
            f"serving needs a sequence model (prism or sasrec), got {model.name!r}; "
            "train one with 'prismrec train --model prism'"
        )
    return model
