"""The multi-interest future-set protocol and the record of which protocol a split measures.

ComiRec (KDD'20) and REMI (RecSys'23) split *users* into train, valid and test users; a held-out
user's first 80% of events is the input and the distinct items of the rest the target set.
Recall@N is hits / distinct targets, HitRate@N whether any target is in the list, and NDCG@N is
rank-based with the ideal list holding min(|targets|, N) targets (the formulas of
:mod:`prismrec.evaluation.metrics`, RecBole's), at N = 20 and 50. This avoids two known flaws of
the published code: ComiRec's NDCG divides by the number of hits, REMI's iterates a set (so the
rank of a hit is lost).

A dataset prepared with ``[data] split = "users"`` (or a ComiRec-style directory, which carries
its own user split) gets this protocol from ``prismrec evaluate`` and :func:`prismrec.evaluate`
without further options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prismrec.errors import ConfigError
from prismrec.evaluation.protocol import FullResult

__all__ = [
    "FUTURE_SET_KS",
    "LOO_KS",
    "add_diversity",
    "is_future_set",
    "protocol_ks",
    "protocol_record",
]

FUTURE_SET_KS = (20, 50)
LOO_KS = (10, 20)
_NAMES = {
    "loo": "leave-one-out",
    "ratio": "per-user ratio",
    "temporal": "temporal",
    "cold-items": "cold items",
    "users": "future-set",
}


def _split(schema: Mapping[str, Any]) -> dict[str, Any]:
    return dict(schema.get("split") or {})


def is_future_set(schema: Mapping[str, Any]) -> bool:
    """Whether a prepared dataset's split is by users (the future-set protocol)."""
    return _split(schema).get("kind") == "users"


def protocol_ks(schema: Mapping[str, Any], ks: Sequence[int] | None = None) -> tuple[int, ...]:
    """The cut-offs: ``ks`` when given, else 20 and 50 for a users split, 10 and 20 otherwise.

    Raises:
        ConfigError: a cut-off below 1.
    """
    if ks and min(ks) < 1:
        raise ConfigError(f"cut-offs must be at least 1 (got {list(ks)})")
    if ks:
        return tuple(sorted({int(k) for k in ks}))
    return FUTURE_SET_KS if is_future_set(schema) else LOO_KS


def protocol_record(schema: Mapping[str, Any]) -> dict[str, Any]:
    """What the protocol dict of ``metrics.json`` adds for a dataset's split.

    Always ``protocol`` (``future-set``, ``leave-one-out`` ...). For a users split also how the
    users were assigned (``seeded`` with its ``seed``, or ``given`` by the data), the user
    shares (configured when seeded, as found when given), the held-out users per part, the input
    share and its rounding rule, and what the targets are.
    """
    split = _split(schema)
    kind = str(split.get("kind", "loo"))
    out: dict[str, Any] = {"protocol": _NAMES.get(kind, kind)}
    if kind != "users":
        return out
    total = sum(int(split.get(f"{p}_users", 0)) for p in ("train", "valid", "test"))
    out["assignment"] = split.get("assignment", "seeded")
    if out["assignment"] == "seeded":
        out["seed"] = split.get("seed")
    for part in ("valid", "test"):
        n = int(split.get(f"{part}_users", 0))
        share = split.get(f"{part}_user_share")
        out[f"{part}_user_share"] = share if share is not None else round(n / max(total, 1), 4)
        out[f"{part}_users"] = n
    out["train_users"] = int(split.get("train_users", 0))
    out["input_share"] = split.get("input_share")
    out["input_rule"] = split.get("input_rule")
    out["targets"] = "the distinct items after the input (a set; repeats of input items count)"
    return out


def add_diversity(res: FullResult) -> None:
    """Add ComiRec's ``diversity@N`` (by category) to a future-set result, in place.

    ComiRec's Diversity@N is the share of item pairs in the list whose categories differ; with
    one category per item that is ``ild_category@N`` (:func:`~prismrec.evaluation.beyond.
    category_diversity`), which it reuses. Nothing is added when the items have no categories.
    """
    ks = [int(k) for k in res.protocol.get("ks", [])]
    added = False
    for k in ks:
        src = res.per_user.get(f"ild_category@{k}")
        if src is None:
            continue
        res.per_user[f"diversity@{k}"] = np.asarray(src)
        res.metrics[f"diversity@{k}"] = float(np.mean(src)) if len(src) else 0.0
        added = True
    if added:
        res.definitions["diversity"] = (
            "ComiRec's Diversity@N by category: share of the list's item pairs in different "
            "categories (= ild_category@N; multi-category items: 1 - cosine of their sets)"
        )
