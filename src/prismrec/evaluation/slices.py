"""User slices for evaluation: cold items, short histories, activity buckets, target behaviour.

A slice is a boolean mask over the evaluation cases. :func:`slice_masks` is pure (arrays in,
masks out); :func:`dataset_slices` reads what it needs from a prepared dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from prismrec.data.dataset import EvalCases, PreparedDataset

__all__ = [
    "ACTIVITY_EDGES",
    "SHORT_HISTORY",
    "activity_buckets",
    "cold_items_of",
    "dataset_slices",
    "slice_masks",
    "slice_means",
]

SHORT_HISTORY = 5
ACTIVITY_EDGES = (5, 20, 50, 200)


def activity_buckets(
    lengths: np.ndarray, edges: Sequence[int] = ACTIVITY_EDGES
) -> dict[str, np.ndarray]:
    """Masks of users whose history length falls in ``0-e1``, ``e1+1-e2``, ..., ``eN+1+``."""
    out: dict[str, np.ndarray] = {}
    lo = 0
    for hi in edges:
        out[f"activity_{lo}-{hi}"] = (lengths >= lo) & (lengths <= hi)
        lo = hi + 1
    out[f"activity_{lo}+"] = lengths >= lo
    return out


def _any_in(targets: Sequence[np.ndarray], items: np.ndarray) -> np.ndarray:
    """(n,) bool: the user has at least one target in ``items``."""
    n = len(targets)
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=n)
    if lengths.sum() == 0:
        return np.zeros(n, dtype=bool)
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets])
    owner = np.repeat(np.arange(n), lengths)
    return np.bincount(owner[np.isin(flat, items)], minlength=n) > 0


def slice_masks(
    history_lengths: np.ndarray,
    targets: Sequence[np.ndarray],
    target_events: np.ndarray | None = None,
    cold_items: np.ndarray | None = None,
    event_names: Mapping[int, str] | None = None,
    edges: Sequence[int] = ACTIVITY_EDGES,
    short: int = SHORT_HISTORY,
) -> dict[str, np.ndarray]:
    """Boolean masks over the cases, keyed by slice name.

    Args:
        history_lengths: (n,) events before each user's first target.
        targets: per user, the target item indices.
        target_events: (n,) event-type index of each user's first target event.
        cold_items: item indices never seen in training; ``cold_items`` = users with one as target.
        event_names: event-type index -> name; one ``event_<name>`` slice per type present, only
            when the targets have at least two types (otherwise it would repeat the overall row).
        edges: upper bounds of the activity buckets.
        short: ``short_history`` = at most this many events.
    """
    lengths = np.asarray(history_lengths)
    out: dict[str, np.ndarray] = {}
    if cold_items is not None:
        out["cold_items"] = _any_in(targets, np.asarray(cold_items, dtype=np.int64))
    out["short_history"] = lengths <= short
    out.update(activity_buckets(lengths, edges))
    if target_events is not None and event_names is not None:
        present = np.unique(target_events)
        if len(present) > 1:
            for e in present.tolist():
                out[f"event_{event_names.get(int(e), str(e))}"] = target_events == e
    return out


def cold_items_of(ds: PreparedDataset, split: str) -> np.ndarray:
    """Items with no training event before ``split`` (the cold-item split's held-out items)."""
    seen = np.unique(ds.split_frame(split).get_column("item_idx").to_numpy())
    cold = np.setdiff1d(np.arange(1, ds.n_items + 1), seen)
    listed = ds.schema.get("split", {}).get("cold_items")
    if listed:
        cold = np.union1d(cold, np.asarray(listed, dtype=np.int64))
    return cold


def _event_names(ds: PreparedDataset) -> dict[int, str]:
    from prismrec.data.vocab import Vocabulary

    path = ds.root / "vocab" / "events.parquet"
    if path.is_file():
        vocab = Vocabulary.load(path, 1, "event type")
        return {i + 1: str(name) for i, name in enumerate(vocab.ids)}
    # the prepare step numbers event types 1.. in sorted order
    return {i + 1: name for i, name in enumerate(sorted(ds.schema.get("event_types", {})))}


def dataset_slices(
    ds: PreparedDataset,
    cases: EvalCases,
    split: str,
    edges: Sequence[int] = ACTIVITY_EDGES,
    short: int = SHORT_HISTORY,
) -> dict[str, np.ndarray]:
    """:func:`slice_masks` for a prepared dataset's evaluation cases."""
    lengths = np.fromiter((len(h) for h in cases.histories), dtype=np.int64, count=len(cases))
    return slice_masks(
        lengths,
        cases.targets,
        np.asarray(cases.target_events),
        cold_items_of(ds, split),
        _event_names(ds),
        edges,
        short,
    )


def slice_means(
    per_user: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Mean of every per-user metric within each slice, plus ``n_users``.

    Empty slices report only ``n_users: 0``; NaN entries (undefined for a user) are skipped.
    """
    out: dict[str, dict[str, float]] = {}
    for name, mask in masks.items():
        n = int(mask.sum())
        row: dict[str, float] = {"n_users": n}
        if n:
            row.update({k: _nanmean(v[mask]) for k, v in per_user.items()})
        out[name] = row
    return out


def _nanmean(x: np.ndarray) -> float:
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")
