"""Deterministic splits: leave-one-out (RecBole LS + TO), per-user ratio (RecBole RS + TO),
global temporal, cold items.

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
    if cfg.split == "ratio":
        return _ratio(df, cfg)
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


def ratio_counts(n: np.ndarray, valid: float, test: float) -> tuple[np.ndarray, np.ndarray]:
    """Per user with ``n`` events: how many train, and train + valid (the rest is test).

    RecBole's ``_calcu_split_ids``: valid and test get ``floor(share * n)`` events each, train the
    rest; then, while train keeps more than one event, a part whose share of ``n`` is below one
    event (but above zero) gets one event from train (test first, then valid).
    """
    n = np.asarray(n, dtype=np.int64)
    c_valid = np.floor(valid * n).astype(np.int64)
    c_test = np.floor(test * n).astype(np.int64)
    c_train = n - c_valid - c_test
    for share, part in ((test, c_test), (valid, c_valid)):
        bump = (c_train > 1) & (share * n > 0) & (share * n < 1)
        part += bump
        c_train -= bump
    return c_train, c_train + c_valid


def _ratio(df: pl.DataFrame, cfg: DataConfig) -> tuple[pl.DataFrame, dict[str, object]]:
    # cumulative cuts -> shares, rounded so 0.9 - 0.8 is exactly 0.1 of a user's events
    valid, test = round(cfg.test_cut - cfg.valid_cut, 9), round(1.0 - cfg.test_cut, 9)
    if not (0.0 <= cfg.valid_cut <= cfg.test_cut <= 1.0):
        raise ConfigError(
            "split 'ratio' needs 0 <= data.valid_cut <= data.test_cut <= 1 (shares of each "
            f"user's events), got {cfg.valid_cut} and {cfg.test_cut}"
        )
    sizes = df.group_by("user_idx").agg(pl.len().alias("n")).sort("user_idx")
    train_end, valid_end = ratio_counts(sizes.get_column("n").to_numpy(), valid, test)
    ends = sizes.select(
        "user_idx",
        pl.Series("train_end", train_end),
        pl.Series("valid_end", valid_end),
    )
    out = (
        df.join(ends, on="user_idx", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("pos") < pl.col("train_end"))
            .then(TRAIN)
            .when(pl.col("pos") < pl.col("valid_end"))
            .then(VALID)
            .otherwise(TEST)
            .cast(pl.Int8)
            .alias("split")
        )
        .drop("train_end", "valid_end")
    )
    return out, {"kind": "ratio", "valid": valid, "test": test}


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
