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

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

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
    "SplitPlan",
    "assign_split",
    "cold_info",
    "cold_items",
    "input_counts",
    "ratio_counts",
    "ratio_plan",
    "split_counts",
    "split_counts_from",
    "temporal_plan",
    "training_rows",
    "user_parts",
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
    n = pl.len().over("user_idx").alias("_n")
    if cfg.split == "users":
        sizes = df.group_by("user_idx").agg(pl.len().alias("n")).sort("user_idx")
        part, info = user_parts(sizes, cfg, given)
        parts = sizes.select("user_idx", pl.Series("_part", part, dtype=pl.Int8))
        df = df.join(parts, on="user_idx", how="left", maintain_order="left")
        plan = SplitPlan("users", input_share=cfg.input_share)
        return plan.apply(df.with_columns(n)), info
    if cfg.split == "loo":
        return SplitPlan("loo").apply(df.with_columns(n)), {"kind": "loo"}
    if cfg.split == "ratio":
        plan = ratio_plan(cfg)
        info = {"kind": "ratio", "valid": plan.valid, "test": plan.test}
        return plan.apply(df.with_columns(n)), info
    if cfg.split == "temporal":
        ts = df.get_column("timestamp").to_numpy()
        plan = temporal_plan(cfg, len(ts), lambda k: int(np.partition(ts, k)[k]))
        return plan.apply(df), plan.info()
    cold = cold_items(np.sort(df.get_column("item_idx").unique().to_numpy()), cfg)
    is_cold = pl.col("item_idx").is_in(cold.tolist())
    df = df.with_columns(
        is_cold.alias("_cold"),
        pl.when(~is_cold)
        .then(pl.col("pos"))
        .otherwise(None)
        .max()
        .over("user_idx")
        .alias("_last_warm"),
        (~is_cold).sum().over("user_idx").alias("_n_warm"),
    )
    return SplitPlan("cold-items").apply(df), cold_info(cfg, cold)


@dataclass(frozen=True)
class SplitPlan:
    """A split kind with what it decided for the whole dataset; :meth:`apply` assigns each row
    from its ``pos`` and its user's inputs (the one rule every engine runs).

    Per-row inputs by kind: ``loo`` and ``ratio`` read ``_n`` (the user's events); ``temporal``
    reads ``timestamp``; ``cold-items`` reads ``_cold`` (the item is withheld), ``_last_warm``
    (the user's last ``pos`` on a warm item) and ``_n_warm``; ``users`` reads ``_part`` (the
    user's part: 0 train, 1 valid, 2 test) and ``_n``.
    """

    kind: str
    valid: float = 0.0  # ratio: shares of each user's events
    test: float = 0.0
    valid_cut: int = 0  # temporal: unix times
    test_cut: int = 0
    input_share: float = 0.8  # users

    INPUTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "loo": ("_n",),
        "ratio": ("_n",),
        "temporal": (),
        "cold-items": ("_cold", "_last_warm", "_n_warm"),
        "users": ("_part", "_n"),
    }

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` with ``split`` (Int8; for ``users`` also ``held_out``), the inputs dropped."""
        pos = pl.col("pos")
        if self.kind == "loo":
            # RecBole: leave min(2, n-1) events out per user; the last is test, the one before
            n = pl.col("_n")
            rule = (
                pl.when((pos == n - 1) & (n >= 2))
                .then(TEST)
                .when((pos == n - 2) & (n >= 3))
                .then(VALID)
                .otherwise(TRAIN)
            )
        elif self.kind == "ratio":
            train_end, valid_end = ratio_counts(
                df.get_column("_n").to_numpy(), self.valid, self.test
            )
            df = df.with_columns(
                pl.Series("_train_end", train_end), pl.Series("_valid_end", valid_end)
            )
            rule = (
                pl.when(pos < pl.col("_train_end"))
                .then(TRAIN)
                .when(pos < pl.col("_valid_end"))
                .then(VALID)
                .otherwise(TEST)
            )
        elif self.kind == "temporal":
            ts = pl.col("timestamp")
            rule = (
                pl.when(ts >= self.test_cut).then(TEST).when(ts >= self.valid_cut).then(VALID)
            ).otherwise(TRAIN)
        elif self.kind == "cold-items":
            rule = (
                pl.when(pl.col("_cold"))
                .then(TEST)
                .when((pos == pl.col("_last_warm")) & (pl.col("_n_warm") >= 2))
                .then(VALID)
                .otherwise(TRAIN)
            )
        else:
            cut = input_counts(df.get_column("_n").to_numpy(), self.input_share)
            df = df.with_columns(pl.Series("_cut", cut))
            part = pl.col("_part")
            rule = pl.when((part == TRAIN) | (pos < pl.col("_cut"))).then(TRAIN).otherwise(part)
        out = df.with_columns(rule.cast(pl.Int8).alias("split"))
        if self.kind == "users":
            out = out.with_columns((pl.col("_part") > TRAIN).alias(HELD_OUT))
        return out.drop("_train_end", "_valid_end", "_cut", *self.INPUTS[self.kind], strict=False)

    def info(self) -> dict[str, object]:
        return {"kind": "temporal", "valid_cut": self.valid_cut, "test_cut": self.test_cut}


def ratio_plan(cfg: DataConfig) -> SplitPlan:
    """The ``ratio`` split's shares of each user's events."""
    # cumulative cuts -> shares, rounded so 0.9 - 0.8 is exactly 0.1 of a user's events
    valid, test = round(cfg.test_cut - cfg.valid_cut, 9), round(1.0 - cfg.test_cut, 9)
    if not (0.0 <= cfg.valid_cut <= cfg.test_cut <= 1.0):
        raise ConfigError(
            "split 'ratio' needs 0 <= data.valid_cut <= data.test_cut <= 1 (shares of each "
            f"user's events), got {cfg.valid_cut} and {cfg.test_cut}"
        )
    return SplitPlan("ratio", valid=valid, test=test)


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


def temporal_plan(cfg: DataConfig, n: int, kth: Callable[[int], int]) -> SplitPlan:
    """The ``temporal`` split's two cuts: a value above 1 is a unix time; a value ``q`` up to 1
    is the time quantile ``q`` of all ``n`` events, numpy's ``method="lower"``: the
    ``floor((n - 1) * q)``-th smallest timestamp (``kth(k)``), plus one second for ``q = 1``."""

    def cut(value: float) -> int:
        if value <= 1.0:
            return kth(int(np.floor((n - 1) * value))) + (1 if value == 1.0 else 0)
        return int(value)

    vcut, tcut = cut(cfg.valid_cut), cut(cfg.test_cut)
    if vcut > tcut:
        raise ConfigError(
            f"data.valid_cut ({cfg.valid_cut}) must not come after data.test_cut ({cfg.test_cut})"
        )
    return SplitPlan("temporal", valid_cut=vcut, test_cut=tcut)


def cold_items(items: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """The withheld items of a ``cold-items`` split, sorted: a seeded draw of
    ``round(cold_item_share * len(items))`` (at least one) of the sorted item rows ``items``."""
    rng = np.random.default_rng(cfg.seed)
    n_cold = max(1, int(round(cfg.cold_item_share * len(items))))
    return np.sort(rng.choice(items, size=n_cold, replace=False))


def cold_info(cfg: DataConfig, cold: np.ndarray) -> dict[str, object]:
    return {
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
    keys = ["split"]
    if HELD_OUT in frame.columns:
        frame = frame.with_columns(pl.col("split").max().over("user_idx").alias("_part"))
        keys += [HELD_OUT, "_part"]
    return split_counts_from(frame.group_by(keys).len())


def split_counts_from(counts: pl.DataFrame) -> dict[str, int]:
    """:func:`split_counts` from event counts (``len``) per ``split`` and, for a users split,
    per ``held_out`` and ``_part`` (the largest ``split`` of the event's user)."""

    def total(rows: pl.Expr) -> int:
        return int(counts.filter(rows).get_column("len").sum())

    code = pl.col("split")
    if HELD_OUT not in counts.columns:
        return {k: total(code == v) for k, v in SPLIT_NAMES.items()}
    held = pl.col(HELD_OUT)
    out = {k: total((code == v) & ~held) for k, v in SPLIT_NAMES.items()}
    out.update({k: total((code == v) & held) for k, v in SPLIT_NAMES.items() if v})
    # held-out users' inputs: rows marked TRAIN; name them by their user's part
    for k, v in SPLIT_NAMES.items():
        if v:
            out[f"{k}_input"] = total((code == TRAIN) & held & (pl.col("_part") == v))
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


def user_parts(
    sizes: pl.DataFrame, cfg: DataConfig, given: pl.DataFrame | None
) -> tuple[np.ndarray, dict[str, object]]:
    """Each user's part (0 train, 1 valid, 2 test) and the split record.

    Args:
        sizes: ``user_idx`` and ``n`` (events), one row per user, sorted by ``user_idx``.
        cfg: the split settings (seed, shares, input share).
        given: the data's own assignment (``user_idx``, ``part``) instead of a seeded draw.
    """
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
    info.update(
        input_share=cfg.input_share,
        input_rule="floor(input_share * n) events, at least 1 and at most n - 1",
        train_users=int((part == TRAIN).sum()),
        valid_users=int((part == VALID).sum()),
        test_users=int((part == TEST).sum()),
    )
    return part, info
