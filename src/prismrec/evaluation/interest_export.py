"""Every user's interests as JSON lines: weight, label and own top items, in external ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prismrec.errors import ConfigError
from prismrec.evaluation.beyond import dataset_categories
from prismrec.evaluation.interests import (
    INTEREST_K,
    InterestModel,
    UserInterests,
    interest_snapshot,
    n_interests,
)

if TYPE_CHECKING:
    from prismrec.data.dataset import PreparedDataset

__all__ = ["InterestExport", "export_interests"]


@dataclass
class InterestExport:
    """What :func:`export_interests` wrote.

    Attributes:
        path: the JSON-lines file.
        n_users: lines written.
        n_interests: K, interests per user.
        means: mean of every interest distinctness measure over the users.
    """

    path: Path
    n_users: int
    n_interests: int
    means: dict[str, float]


def export_interests(
    model: object, ds: PreparedDataset, split: str, out: str | Path, k: int = INTEREST_K
) -> InterestExport:
    """Write one JSON line per user of ``split``'s evaluation cases.

    Each line is ``{"user_id", "interests": [{"weight", "label", "items"}, ...]}``: the K
    interests in the model's order, ``items`` the interest's own top-``k`` (external ids, the
    user's history masked), ``label`` its top categories (``null`` without item categories).

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
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    user_ids = ds.user_vocab.external(snap.users)
    with path.open("w") as fh:
        for row, user_id in enumerate(user_ids):
            fh.write(json.dumps(_record(snap, row, str(user_id), ds)) + "\n")
    means = {key: float(np.nanmean(v)) for key, v in snap.metrics().items()}
    return InterestExport(path, len(user_ids), n_k, means)


def _record(snap: UserInterests, row: int, user_id: str, ds: PreparedDataset) -> dict[str, Any]:
    labels = snap.labels[row] if snap.labels is not None else [None] * len(snap.weights[row])
    return {
        "user_id": user_id,
        "interests": [
            {
                "weight": round(float(w), 4),
                "term": snap.term(i),
                "label": label,
                "items": ds.item_vocab.external(items[items > 0]),
            }
            for i, (w, label, items) in enumerate(
                zip(snap.weights[row], labels, snap.top[row], strict=True)
            )
        ],
    }
