"""Live events -> the per-event feature columns the interest model was trained with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prismrec.data.vocab import Vocabulary
from prismrec.serving.state._events import StoredEvent

__all__ = ["Featurizer", "concat"]


class Featurizer:
    """Turns stored events into model inputs exactly as preprocessing did for training.

    Args:
        columns: the model's per-event columns (``event_idx``, ``hour``, ``weekday``,
            ``gap_bucket``, ``ctx_<name>``); the item column comes first implicitly.
        events: the event-type vocabulary.
        contexts: context column -> vocabulary.
        gap_buckets: the bucket bounds (seconds) of the training config.
    """

    def __init__(
        self,
        columns: Sequence[str],
        events: Vocabulary,
        contexts: dict[str, Vocabulary],
        gap_buckets: Sequence[int],
    ) -> None:
        self.columns = tuple(columns)
        self.events = events
        self.contexts = contexts
        self.bounds = np.asarray(gap_buckets, dtype=np.int64)

    @classmethod
    def from_model_dir(
        cls, path: Path, columns: Sequence[str], schema: dict[str, Any]
    ) -> Featurizer:
        vocab = path / "vocab"
        events = Vocabulary.load(vocab / "events.parquet", 1, "event type")
        contexts = {
            c: Vocabulary.load(vocab / f"ctx_{c}.parquet", 1, c)
            for c in schema.get("contexts", {})
            if (vocab / f"ctx_{c}.parquet").is_file()
        }
        gaps = schema.get("config", {}).get("gap_buckets") or [0, 60, 600, 3600, 21600, 86400]
        return cls(columns, events, contexts, gaps)

    def features(
        self, events: Sequence[StoredEvent], item_index: Callable[[str], int]
    ) -> dict[str, np.ndarray]:
        """Feature arrays of the events whose item the catalogue knows (others are skipped)."""
        kept = [(e, item_index(e.item_id)) for e in events]
        kept = [(e, i) for e, i in kept if i > 0]
        out: dict[str, np.ndarray] = {"item_idx": np.fromiter((i for _, i in kept), np.int64)}
        ts = np.fromiter((e.timestamp for e, _ in kept), np.int64, count=len(kept))
        for col in self.columns:
            out[col] = self._column(col, [e for e, _ in kept], ts)
        return out

    def _column(self, col: str, events: list[StoredEvent], ts: np.ndarray) -> np.ndarray:
        if col == "event_idx":
            return self.events.lookup((e.event_type for e in events), missing=0)
        if col == "hour":
            return np.asarray([_utc(t).hour + 1 for t in ts.tolist()], np.int64)
        if col == "weekday":
            return np.asarray([_utc(t).isoweekday() for t in ts.tolist()], np.int64)
        if col == "gap_bucket":
            gaps = np.diff(ts, prepend=ts[:1])
            bucket = np.searchsorted(self.bounds, np.maximum(gaps, 0), side="left") + 1
            if len(bucket):
                bucket[0] = 0  # no previous event known to this window
            return bucket.astype(np.int64)
        if col.startswith("ctx_"):
            vocab = self.contexts.get(col[4:])
            if vocab is None:
                return np.zeros(len(events), np.int64)
            return vocab.lookup(((e.context or {}).get(col[4:], "") for e in events), missing=0)
        return np.zeros(len(events), np.int64)  # a column the live events cannot carry

    def context_codes(self, context: dict[str, str], now: int) -> dict[str, int]:
        """Codes of a request's context (for cold-start popularity): hour, weekday, ctx_*."""
        t = _utc(now)
        out = {"hour": t.hour + 1, "weekday": t.isoweekday()}
        for name, value in context.items():
            vocab = self.contexts.get(name)
            if vocab is not None and value in vocab:
                out[f"ctx_{name}"] = vocab.index(value)
        return out


def _utc(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(t), tz=dt.UTC)


def concat(base: dict[str, np.ndarray] | None, live: dict[str, np.ndarray], limit: int) -> dict:
    """The training history followed by the live events, the newest ``limit`` kept."""
    if base is None or not len(base.get("item_idx", ())):
        return {k: v[-limit:] for k, v in live.items()}
    out = {}
    for k, v in live.items():
        b = np.asarray(base.get(k, np.zeros(len(base["item_idx"]), np.int64)), np.int64)
        out[k] = np.concatenate([b, v])[-limit:]
    return out
