"""Preprocessing: implicit conversion, dedup, k-core, ordering, vocabularies, context features."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from prismrec.config import DataConfig
from prismrec.data.schema import RawDataset
from prismrec.data.vocab import Vocabulary
from prismrec.errors import DataError

__all__ = [
    "DEDUP_KEY",
    "EVENT_COLUMNS",
    "NOTHING_LEFT",
    "TIE_ORDER",
    "Encoded",
    "encode",
    "filter_interactions",
    "time_columns",
    "time_features",
]

log = logging.getLogger(__name__)

DEDUP_KEY = ("user_id", "item_id", "timestamp", "event_type")
"""Events equal on these are duplicates (``dedup``); the one on the first line is kept."""
EVENT_COLUMNS = (
    "user_idx",
    "item_idx",
    "timestamp",
    "event_idx",
    "value",
    "weight",
    "hour",
    "weekday",
    "gap_bucket",
    "pos",
    "_line",
)
"""The columns of a prepared dataset's events, in order; then ``ctx_<name>`` per context
column and the split's (``split``, and ``held_out`` for a users split)."""
NOTHING_LEFT = (
    "no interactions left after filtering (rating_threshold / k-core); "
    "relax data.rating_threshold or data.min_*_interactions"
)
TIE_ORDER = ("_tkey", "_line")
"""The one total order of a user's events, in every engine: the time key (the timestamp, or
RecBole's float32 time with ``time_order = "recbole"``), then the line in the source file."""


def filter_interactions(df: pl.DataFrame, cfg: DataConfig) -> pl.DataFrame:
    """Rating threshold, exact-duplicate removal and iterative k-core filtering."""
    if cfg.rating_threshold is not None:
        df = df.filter(pl.col("value").is_null() | (pl.col("value") >= cfg.rating_threshold))
    if cfg.dedup:
        df = df.unique(subset=list(DEDUP_KEY), keep="first", maintain_order=True)
    ku, ki = cfg.min_user_interactions, cfg.min_item_interactions
    for _ in range(100):
        if ku <= 1 and ki <= 1:
            break
        before = df.height
        if ki > 1:
            df = df.filter(pl.len().over("item_id") >= ki)
        if ku > 1:
            df = df.filter(pl.len().over("user_id") >= ku)
        if df.height == before:
            break
    if df.height == 0:
        raise DataError(NOTHING_LEFT)
    return df


class Encoded:
    """Interactions with contiguous ids, sorted per user in time, plus the vocabularies."""

    def __init__(
        self,
        frame: pl.DataFrame,
        users: Vocabulary,
        items: Vocabulary,
        events: Vocabulary,
        contexts: dict[str, Vocabulary],
    ) -> None:
        self.frame = frame
        self.users = users
        self.items = items
        self.events = events
        self.contexts = contexts


def encode(raw: RawDataset, df: pl.DataFrame, cfg: DataConfig) -> Encoded:
    """Assign contiguous ids, order each user's events, and derive context features."""
    # chronological per user; ties keep file order (a stable sort by time, as RecBole's)
    order = cfg.time_order or raw.time_order
    if order == "recbole":
        # RecBole min-max normalises float fields and stores them as float32: timestamps about
        # a second apart tie, and the stable sort then keeps file order. Its published splits
        # depend on that, so emulate it when asked.
        t = pl.col("timestamp").cast(pl.Float64)
        key = ((t - t.min()) / pl.max_horizontal(t.max() - t.min(), pl.lit(1.0))).cast(pl.Float32)
    else:
        key = pl.col("timestamp")
    df = df.with_columns(key.alias("_tkey")).sort(["user_id", *TIE_ORDER], maintain_order=True)
    user_ids = df.get_column("user_id").unique(maintain_order=True).to_list()
    users = Vocabulary(user_ids, offset=0, name="user")
    item_ids = df.get_column("item_id").unique(maintain_order=True).to_list()
    if raw.items is not None and cfg.min_item_interactions <= 1:
        seen = set(item_ids)
        item_ids += [i for i in raw.items.get_column("item_id").to_list() if i not in seen]
    items = Vocabulary(item_ids, offset=1, name="item")
    events = Vocabulary(sorted(cfg.event_weights), offset=1, name="event type")
    weights = {k: float(v) for k, v in cfg.event_weights.items()}
    contexts = {
        c: Vocabulary(sorted(df.get_column(c).drop_nulls().unique().to_list()), offset=1, name=c)
        for c in raw.context_columns
    }
    out = df.with_columns(
        _map(df, "user_id", users).alias("user_idx"),
        _map(df, "item_id", items).alias("item_idx"),
        _map(df, "event_type", events).cast(pl.Int16).alias("event_idx"),
        pl.col("event_type").replace_strict(weights, default=1.0).cast(pl.Float32).alias("weight"),
        *[_map(df, c, v, missing=0).alias(f"ctx_{c}") for c, v in contexts.items()],
    ).sort(["user_idx", *TIE_ORDER])
    out = out.with_columns(pl.int_range(pl.len()).over("user_idx").cast(pl.Int32).alias("pos"))
    out = time_features(out, cfg, raw.has_time)
    keep = [*EVENT_COLUMNS, *[f"ctx_{c}" for c in contexts]]
    return Encoded(out.select(keep), users, items, events, contexts)


def _map(df: pl.DataFrame, col: str, vocab: Vocabulary, missing: int = -1) -> pl.Series:
    old = [str(x) for x in vocab.ids]
    new = np.arange(vocab.offset, vocab.offset + len(old), dtype=np.int32)
    return df.get_column(col).replace_strict(old, new, default=missing, return_dtype=pl.Int32)


def time_features(df: pl.DataFrame, cfg: DataConfig, has_time: bool) -> pl.DataFrame:
    """Hour (1..24), weekday (1..7) and time-gap bucket (1..B+1); 0 means unknown/padding.

    ``df`` must be sorted by user and time with a ``pos`` column (each user's event number).
    """
    gap = pl.col("timestamp") - pl.col("timestamp").shift(1).over("user_idx")
    return time_columns(df.with_columns(gap.alias("_gap")), cfg, has_time).drop("_gap")


def time_columns(df: pl.DataFrame, cfg: DataConfig, has_time: bool) -> pl.DataFrame:
    """:func:`time_features` from each row alone: ``timestamp``, ``pos`` and ``_gap`` (seconds
    since the user's previous event, null for the first)."""
    if not has_time:
        zero = pl.lit(0, pl.Int16)
        return df.with_columns(zero.alias("hour"), zero.alias("weekday"), zero.alias("gap_bucket"))
    dt = pl.from_epoch(pl.col("timestamp"), time_unit="s")
    bounds = np.asarray(cfg.gap_buckets, dtype=np.int64)
    gaps = df.get_column("_gap").fill_null(-1).to_numpy()
    # the first event has no gap (bucket 0); near-ties reordered by time_order count as gap 0
    first = df.select(pl.col("pos") == 0).to_series().to_numpy()
    bucket = np.where(first, 0, np.searchsorted(bounds, np.maximum(gaps, 0), side="left") + 1)
    return df.with_columns(
        (dt.dt.hour().cast(pl.Int16) + 1).alias("hour"),
        dt.dt.weekday().cast(pl.Int16).alias("weekday"),
        pl.Series("gap_bucket", bucket.astype(np.int16)),
    )
