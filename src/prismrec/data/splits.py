"""Deterministic splits: leave-one-out (RecBole LS + TO), per-user ratio (RecBole RS + TO),
global temporal, cold items, held-out users (the multi-interest future-set protocol).

Every function takes interactions sorted by ``(user_idx, timestamp, _line)`` with a ``pos`` column
(position within the user's sequence) and returns the frame with an ``split`` column:
0 train, 1 valid, 2 test.

The users split also adds a boolean ``held_out`` column, True on every row of a valid or test
user: such a user's input events carry ``split`` 0 (they come before the targets, like any
history) but never train a model (:meth:`PreparedDataset.split_frame` leaves them out); their
target events carry 1 or 2.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from prismrec.config import DataConfig
from prismrec.errors import ConfigError, DataError

__all__ = [
    "HELD_OUT",
    "SPLIT_NAMES",
    "TEST",
    "TRAIN",
    "VALID",
    "assign_split",
    "input_counts",
    "split_counts",
    "training_rows",
]

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = {"train": TRAIN, "valid": VALID, "test": TEST}
HELD_OUT = "held_out"


def assign_split(
    df: pl.DataFrame, cfg: DataConfig, given: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, object]]:
    """Add the ``split`` column; return the frame and a record of how it was split.

    Args:
        df: interactions sorted per user in time, with ``pos``.
        cfg: the split settings.
        given: for ``split = "users"``, a fixed assignment (``user_idx``, ``part``: 0 train,
            1 valid, 2 test) for every user instead of a seeded draw.
    """
    if cfg.split == "users":
        return _users(df, cfg, given)
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


def training_rows(frame: pl.DataFrame) -> pl.Expr:
    """A filter of the rows a model may train on: all but held-out users' (users split)."""
    return ~pl.col(HELD_OUT) if HELD_OUT in frame.columns else pl.lit(True)


def split_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Events per split: ``train`` (training events), ``valid``/``test`` (target events) and,
    for a users split, ``valid_input``/``test_input`` (the held-out users' input events)."""
    held = frame.get_column(HELD_OUT) if HELD_OUT in frame.columns else None
    code = frame.get_column("split")
    if held is None:
        return {k: int((code == v).sum()) for k, v in SPLIT_NAMES.items()}
    out = {k: int(((code == v) & ~held).sum()) for k, v in SPLIT_NAMES.items()}
    out.update({k: int(((code == v) & held).sum()) for k, v in SPLIT_NAMES.items() if v})
    # held-out users' inputs: rows marked TRAIN; name them by their user's part
    part = frame.select(pl.col("split").max().over("user_idx")).to_series()
    for k, v in SPLIT_NAMES.items():
        if v:
            out[f"{k}_input"] = int(((code == TRAIN) & held & (part == v)).sum())
    return out


def input_counts(n: np.ndarray, share: float) -> np.ndarray:
    """Input events of held-out users with ``n`` events: ``floor(share * n)`` clipped to
    ``[1, n - 1]`` (every held-out user keeps one input event and one target).

    For ``share = 0.8`` this is exactly ComiRec's and REMI's ``int(len(seq) * 0.8)`` whenever
    that leaves both parts non-empty (a tiny epsilon guards against ``0.7 * 10 = 6.999...``).
    """
    n = np.asarray(n, dtype=np.int64)
    cut = np.floor(share * n + 1e-9).astype(np.int64)
    return np.clip(cut, 1, np.maximum(n - 1, 1))


def _draw_users(sizes: pl.DataFrame, cfg: DataConfig) -> np.ndarray:
    """Part (0 train, 1 valid, 2 test) per user, seeded; only users with two or more events
    can be held out. Counts are ``round(share * users)``, at least one each."""
    users_n = sizes.get_column("n").to_numpy()
    eligible = np.nonzero(users_n >= 2)[0]
    total = len(users_n)
    n_valid = max(1, int(round(cfg.valid_user_share * total)))
    n_test = max(1, int(round(cfg.test_user_share * total)))
    if n_valid + n_test > len(eligible) or n_valid + n_test >= total:
        raise DataError(
            f"split 'users' needs {n_valid} valid and {n_test} test users with at least two "
            f"events each, and training users besides; the data has {total} users, "
            f"{len(eligible)} with two or more events: lower data.valid_user_share / "
            "data.test_user_share or use more data"
        )
    order = np.random.default_rng(cfg.seed).permutation(eligible)
    part = np.zeros(total, dtype=np.int8)
    part[order[:n_valid]] = VALID
    part[order[n_valid : n_valid + n_test]] = TEST
    return part


def _users(
    df: pl.DataFrame, cfg: DataConfig, given: pl.DataFrame | None
) -> tuple[pl.DataFrame, dict[str, object]]:
    sizes = df.group_by("user_idx").agg(pl.len().alias("n")).sort("user_idx")
    info: dict[str, object] = {"kind": "users"}
    if given is None:
        part = _draw_users(sizes, cfg)
        info.update(
            assignment="seeded",
            seed=cfg.seed,
            valid_user_share=cfg.valid_user_share,
            test_user_share=cfg.test_user_share,
        )
    else:
        joined = sizes.join(given, on="user_idx", how="left")
        part = joined.get_column("part").fill_null(TRAIN).cast(pl.Int8).to_numpy()
        info["assignment"] = "given"
    n = sizes.get_column("n").to_numpy()
    short = np.nonzero((part > 0) & (n < 2))[0]
    if len(short):
        raise DataError(
            f"{len(short)} held-out user(s) have fewer than two events (one input, one target), "
            f"e.g. user row {int(sizes.get_column('user_idx')[int(short[0])])}; relax the "
            "k-core/dedup settings that removed their events"
        )
    cuts = sizes.select(
        "user_idx",
        pl.Series("_part", part, dtype=pl.Int8),
        pl.Series("_cut", input_counts(n, cfg.input_share)),
    )
    out = (
        df.join(cuts, on="user_idx", how="left", maintain_order="left")
        .with_columns(
            pl.when((pl.col("_part") == TRAIN) | (pl.col("pos") < pl.col("_cut")))
            .then(TRAIN)
            .otherwise(pl.col("_part"))
            .cast(pl.Int8)
            .alias("split"),
            (pl.col("_part") > TRAIN).alias(HELD_OUT),
        )
        .drop("_part", "_cut")
    )
    info.update(
        input_share=cfg.input_share,
        input_rule="floor(input_share * n) events, at least 1 and at most n - 1",
        train_users=int((part == TRAIN).sum()),
        valid_users=int((part == VALID).sum()),
        test_users=int((part == TEST).sum()),
    )
    return out, info
