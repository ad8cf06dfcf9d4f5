"""Every user's interests as JSON lines: weight, label and own top items, in external ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prismrec.errors import ConfigError
from prismrec.evaluation.beyond import dataset_categories
from prismrec.evaluation.interest_use import (
    InterestScorer,
    head_shares,
    long_hit_shares,
    pooled_long_hit_shares,
    use_measures,
)
from prismrec.evaluation.interests import (
    INTEREST_K,
    InterestModel,
    InterestSnapshot,
    interest_snapshot,
    n_interests,
)
from prismrec.evaluation.metrics import hit_matrix
from prismrec.evaluation.protocol import Ranker, ranked_lists
from prismrec.models.interests import held

if TYPE_CHECKING:
    from prismrec.data.dataset import PreparedDataset

__all__ = ["HIT_KS", "InterestExport", "export_interests"]

HIT_KS = (10, 20)  # the list lengths whose hits are attributed to interests


@dataclass
class InterestExport:
    """What :func:`export_interests` wrote.

    Attributes:
        path: the JSON-lines file (None: none written).
        n_users: users measured (and lines written).
        n_interests: K, interests per user.
        means: mean of every interest distinctness and use measure over the users, and the
            pooled long-term share of the hits (``long_hit_share_pooled@N``).
    """

    path: Path | None
    n_users: int
    n_interests: int
    means: dict[str, float]


def export_interests(
    model: object,
    ds: PreparedDataset,
    split: str,
    out: str | Path | None,
    k: int = INTEREST_K,
    hit_ks: tuple[int, ...] = HIT_KS,
) -> InterestExport:
    """Write one JSON line per user of ``split``'s evaluation cases (``out`` None: measure only).

    Each line is ``{"user_id", "interests": [{"weight", "term", "active", "label", "items"},
    ...]}``: the interests in the model's order, ``items`` the interest's own top-``k``
    (external ids, the user's history masked), ``label`` its top categories (``null`` without
    item categories). ``active`` is false for an interest the user does not have (a model with
    ``dynamic_interests``: weight 0, no label, no items).
    The means cover the distinctness and use measures (:mod:`~prismrec.evaluation.interest_use`);
    with ``hit_ks``, the model's recommended lists are ranked and their hits on the split's
    targets attributed to the interests (``long_hit_share@N``).

    Raises:
        ConfigError: the model has no interest vectors, or a single interest per user.
    """
    if not isinstance(model, InterestModel):
        raise ConfigError(
            f"a {type(model).__name__} model has no interest vectors: export interests from a "
            "multi-interest model (prism with n_interests > 1)"
        )
    cases = ds.eval_cases(split)
    n_k = n_interests(model, cases.users, cases.inputs())
    if n_k < 2:
        raise ConfigError(
            f"this {type(model).__name__} model has {n_k} interest per user: nothing to "
            "compare; train prism with n_interests > 1"
        )
    found = dataset_categories(ds)
    cats, names = (found[1], found[2]) if found is not None else (None, [])
    snap = interest_snapshot(model, cases.users, cases.inputs(), k, cats, names)
    path = None if out is None else Path(out)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        user_ids = ds.user_vocab.external(snap.users)
        with path.open("w") as fh:
            for row, user_id in enumerate(user_ids):
                fh.write(json.dumps(_record(snap, row, str(user_id), ds)) + "\n")
    per_user = {
        **snap.metrics(),
        **use_measures(snap.interests.weights, snap.top, snap.interests.n_long),
        **head_shares(snap.top[:, : snap.interests.long_rows]),
    }
    pooled: dict[str, float] = {}
    if hit_ks and isinstance(model, InterestScorer) and isinstance(model, Ranker):
        lists = ranked_lists(model, cases, max(hit_ks))
        n_long = snap.interests.long_rows
        shares = long_hit_shares(
            model, cases.users, cases.inputs(), lists, cases.targets, n_long, hit_ks
        )
        n_hits = {n: hit_matrix(lists[:, :n], cases.targets).sum(1) for n in hit_ks}
        per_user.update(shares)
        pooled = pooled_long_hit_shares(shares, n_hits)
    means = {key: _mean(v) for key, v in per_user.items()}
    return InterestExport(path, len(snap.users), n_k, {**means, **pooled})


def _mean(v: np.ndarray) -> float:
    """The mean over the users for whom ``v`` is defined (NaN when none is)."""
    ok = ~np.isnan(v)
    return float(v[ok].mean()) if ok.any() else float("nan")


def _record(snap: InterestSnapshot, row: int, user_id: str, ds: PreparedDataset) -> dict[str, Any]:
    labels = (
        snap.labels[row] if snap.labels is not None else [None] * len(snap.interests.weights[row])
    )
    return {
        "user_id": user_id,
        "interests": [
            {
                "weight": round(float(w), 4),
                "term": snap.interests.term(i),
                "active": bool(held(w)),
                "label": label if held(w) else None,
                "items": ds.item_vocab.external(items[items > 0]),
            }
            for i, (w, label, items) in enumerate(
                zip(snap.interests.weights[row], labels, snap.top[row], strict=True)
            )
        ],
    }
