"""Full-ranking evaluation of any recommender on a split's evaluation cases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from prismrec.evaluation.metrics import ACCURACY_METRICS, accuracy_metrics, hit_matrix

__all__ = ["EvalResult", "Ranker", "evaluate", "rank_cases"]

log = logging.getLogger(__name__)


class Ranker(Protocol):
    """Anything with the recommender API's ``recommend``."""

    def recommend(
        self,
        histories: Sequence[np.ndarray],
        k: int = 10,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


class _Cases(Protocol):
    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int: ...

    def inputs(self) -> Sequence[Any]: ...


@dataclass
class EvalResult:
    """Mean metrics, the per-user arrays behind them, and how they were measured."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    protocol: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "n_users": int(len(next(iter(self.per_user.values()), []))),
            "protocol": self.protocol,
        }


def rank_cases(
    rec: Ranker, cases: _Cases, k: int, filter_seen: bool = True, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices and scores for every case, in batches."""
    ids, scores = [], []
    inputs = cases.inputs()
    for start in range(0, len(cases.users), batch_size):
        hist = inputs[start : start + batch_size]
        users = cases.users[start : start + batch_size]
        i, s = rec.recommend(hist, k=k, filter_seen=filter_seen, users=users)
        ids.append(i)
        scores.append(s)
    return np.concatenate(ids), np.concatenate(scores)


def evaluate(
    rec: Ranker,
    cases: _Cases,
    ks: Sequence[int] = (10, 20),
    filter_seen: bool = True,
    metrics: Sequence[str] = ACCURACY_METRICS,
    split: str = "test",
    batch_size: int = 1024,
) -> EvalResult:
    """Full ranking over all items; seen items (the history) masked when ``filter_seen``."""
    top, _ = rank_cases(rec, cases, max(ks), filter_seen, batch_size)
    hits = hit_matrix(top, cases.targets)
    n_t = np.fromiter((len(t) for t in cases.targets), dtype=np.int64, count=len(cases.targets))
    per_user = accuracy_metrics(hits, n_t, ks, metrics)
    means = {k: float(v.mean()) if len(v) else 0.0 for k, v in per_user.items()}
    protocol = {
        "split": split,
        "ranking": "full",
        "seen_items_masked": bool(filter_seen),
        "n_users": len(cases.users),
        "ks": list(ks),
    }
    return EvalResult(means, per_user, protocol)
