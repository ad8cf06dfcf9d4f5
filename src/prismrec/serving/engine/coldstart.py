"""Lists for users without history: popular items, lifted by the request's context and profile.

``score(i) = log p(i) + sum_s log lift_s(i)`` over the segments ``s`` the request falls in (hour,
weekday, context columns such as device, static profile attributes such as age or gender), with
``lift_s(i) = (c_s(i) + m p(i)) / ((n_s + m) p(i))``: an item over-represented in the segment
rises, and segments with little data shrink towards plain popularity (``m`` pseudo-events).
Counts come from the training histories stored in the model directory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["PopularityPrior", "profile_vocab"]

log = logging.getLogger(__name__)


class PopularityPrior:
    """Global and per-segment item counts.

    Args:
        histories: training users' feature histories (``item_idx`` plus event columns).
        user_attrs: ``user_<attr>`` -> (n_users,) codes (0 = unknown).
        n_rows: item rows (``N + 1``).
        smoothing: the pseudo-event count ``m``.
        per_segment: items kept per segment value (the rest count as zero).
    """

    def __init__(
        self,
        histories: Mapping[int, Mapping[str, np.ndarray]],
        user_attrs: Mapping[str, np.ndarray],
        n_rows: int,
        smoothing: float = 20.0,
        per_segment: int = 500,
    ) -> None:
        self.smoothing = smoothing
        users = np.fromiter(histories.keys(), np.int64, count=len(histories))
        items = [np.asarray(h["item_idx"], np.int64) for h in histories.values()]
        lengths = np.fromiter((len(x) for x in items), np.int64, count=len(items))
        flat = np.concatenate(items) if items else np.zeros(0, np.int64)
        self.counts = np.bincount(flat, minlength=n_rows).astype(np.float64)
        self.counts[0] = 0.0
        total = max(self.counts.sum(), 1.0)
        self.p = (self.counts + 1e-3) / total
        self.segments: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, float]] = {}
        columns = {c for h in histories.values() for c in h if c not in ("item_idx", "gap_bucket")}
        for col in sorted(columns):
            if col == "event_idx":
                continue
            codes = np.concatenate([np.asarray(h[col], np.int64) for h in histories.values()])
            self._add(col, codes, flat, per_segment)
        owner = np.repeat(users, lengths)
        for name, arr in user_attrs.items():
            codes = np.where(owner < len(arr), np.asarray(arr)[np.minimum(owner, len(arr) - 1)], 0)
            self._add(name, codes, flat, per_segment)

    def _add(self, col: str, codes: np.ndarray, items: np.ndarray, keep: int) -> None:
        for v in np.unique(codes[codes > 0]).tolist():
            sel = items[codes == v]
            c = np.bincount(sel, minlength=len(self.counts)).astype(np.float64)
            top = np.argsort(-c)[:keep]
            top = top[c[top] > 0]
            self.segments[(col, int(v))] = (top, c[top], float(len(sel)))

    def grow(self, n_rows: int) -> None:
        """Make room for items added after training (they start with no counts)."""
        if n_rows > len(self.counts):
            extra = n_rows - len(self.counts)
            self.counts = np.concatenate([self.counts, np.zeros(extra)])
            total = max(self.counts.sum(), 1.0)
            self.p = (self.counts + 1e-3) / total

    def scores(self, segments: Mapping[str, int]) -> np.ndarray:
        """(N+1,) log-scores for a request in these segments (unknown segments are ignored)."""
        s = np.log(self.p)
        m = self.smoothing
        for col, code in segments.items():
            seg = self.segments.get((col, int(code)))
            if seg is None:
                continue
            top, c, n = seg
            # items outside the stored top share the zero-count lift m p / ((n + m) p)
            s = s + np.log(m / (n + m))
            p = self.p[top]
            s[top] += np.log((c + m * p) / (m * p))
        s[0] = -np.inf
        return s

    def applicable(self, segments: Mapping[str, int]) -> list[str]:
        """Which of ``segments`` have counts (what the list was lifted by)."""
        return [c for c, v in segments.items() if (c, int(v)) in self.segments]


def profile_vocab(path: Path, attrs: list[str]) -> dict[str, dict[str, int]]:
    """Value -> code of each static user attribute, as training coded them (sorted values)."""
    if not attrs:
        return {}
    import polars as pl

    users = path / "users.parquet"
    if not users.is_file():
        meta = json.loads((path / "model.json").read_text())
        users = Path(meta.get("data_root") or path) / "users.parquet"
    if not users.is_file():
        log.info(
            "no users.parquet next to the training data: profile attributes of new users unknown"
        )
        return {}
    frame = pl.read_parquet(users)
    out = {}
    for name in attrs:
        col = name[5:]
        if col in frame.columns:
            values = sorted(frame.get_column(col).cast(pl.String).drop_nulls().unique().to_list())
            out[name] = {v: i + 1 for i, v in enumerate(values)}
    return out
