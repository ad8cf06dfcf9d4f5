"""Deterministic splits: leave-one-out (RecBole LS + TO), global temporal, cold items.

Every function takes interactions sorted by ``(user_idx, timestamp, _line)`` with a ``pos`` column
(position within the user's sequence) and returns the frame with an ``split`` column:
0 train, 1 valid, 2 test.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from prismrec.config import DataConfig
from prismrec.errors import ConfigError

__all__ = ["TRAIN", "VALID", "TEST", "SPLIT_NAMES", "assign_split"]

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = {"train": TRAIN, "valid": VALID, "test": TEST}


def assign_split(df: pl.DataFrame, cfg: DataConfig) -> tuple[pl.DataFrame, dict[str, object]]:
    """Add the ``split`` column; return the frame and a record of how it was split."""
    if cfg.split == "loo":
        return _leave_one_out(df), {"kind": "loo"}
    if cfg.split == "temporal":
        return _temporal(df, cfg)
    return _cold_items(df, cfg)


def _leave_one_out(df: pl.DataFrame) -> pl.DataFrame:
    # RecBole: leave min(2, n-1) events out per user; the last is test, the one before valid.
    n = pl.col("pos").max().over("user_idx") + 1
    return df.with_columns(
        pl.when((pl.col("pos") == n - 1) & (n >= 2))
        .then(TEST)
        .when((pl.col("pos") == n - 2) & (n >= 3))
        .then(VALID)
        .otherwise(TRAIN)
        .cast(pl.Int8)
        .alias("split")
    )


def _cut(ts: pl.Series, value: float) -> int:
    if value <= 1.0:
        return int(np.quantile(ts.to_numpy(), value, method="lower")) + (1 if value == 1.0 else 0)
    return int(value)


def _temporal(df: pl.DataFrame, cfg: DataConfig) -> tuple[pl.DataFrame, dict[str, object]]:
    vcut, tcut = (
        _cut(df.get_column("timestamp"), cfg.valid_cut),
        _cut(df.get_column("timestamp"), cfg.test_cut),
    )
    if vcut > tcut:
        raise ConfigError(
            f"data.valid_cut ({cfg.valid_cut}) must not come after data.test_cut ({cfg.test_cut})"
        )
    out = df.with_columns(
        pl.when(pl.col("timestamp") >= tcut)
        .then(TEST)
        .when(pl.col("timestamp") >= vcut)
        .then(VALID)
        .otherwise(TRAIN)
        .cast(pl.Int8)
        .alias("split")
    )
    return out, {"kind": "temporal", "valid_cut": vcut, "test_cut": tcut}


def _cold_items(df: pl.DataFrame, cfg: DataConfig) -> tuple[pl.DataFrame, dict[str, object]]:
    items = np.sort(df.get_column("item_idx").unique().to_numpy())
    rng = np.random.default_rng(cfg.seed)
    n_cold = max(1, int(round(cfg.cold_item_share * len(items))))
    cold = np.sort(rng.choice(items, size=n_cold, replace=False))
    is_cold = pl.col("item_idx").is_in(cold.tolist())
    warm_pos = pl.when(~is_cold).then(pl.col("pos")).otherwise(None)
    last_warm = warm_pos.max().over("user_idx")
    n_warm = (~is_cold).sum().over("user_idx")
    out = df.with_columns(
        pl.when(is_cold)
        .then(TEST)
        .when((pl.col("pos") == last_warm) & (n_warm >= 2))
        .then(VALID)
        .otherwise(TRAIN)
        .cast(pl.Int8)
        .alias("split")
    )
    return out, {
        "kind": "cold-items",
        "seed": cfg.seed,
        "share": cfg.cold_item_share,
        "cold_items": cold.astype(int).tolist(),
    }
