"""Splits: RecBole's leave-one-out exactly, per-user ratios as RecBole counts them, temporal cuts,
cold items withheld from training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prismrec.config import DataConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.splits import ratio_counts
from prismrec.errors import ConfigError


def test_loo_matches_recbole_for_every_user(ml100k_recbole_prepared, data_dir: Path) -> None:
    ds = ml100k_recbole_prepared
    ref = pl.read_csv(
        data_dir / "ml-100k-recbole" / "recbole_loo_split.tsv", separator="\t", infer_schema=False
    )
    got = {}
    for split in ("valid", "test"):
        c = ds.eval_cases(split)
        assert all(len(t) == 1 for t in c.targets)
        got[split] = dict(
            zip(
                ds.user_vocab.external(c.users),
                ds.item_vocab.external(np.concatenate(c.targets)),
                strict=True,
            )
        )
    assert ref.height == 943 == len(got["test"]) == len(got["valid"])
    for user, valid, test in ref.iter_rows():
        assert got["valid"][user] == valid, user
        assert got["test"][user] == test, user


def test_loo_histories_are_strictly_before_target(ml100k_recbole_prepared) -> None:
    ds = ml100k_recbole_prepared
    f = ds.frame
    test, valid = ds.eval_cases("test"), ds.eval_cases("valid")
    for i in range(0, 943, 97):
        u = test.users[i]
        seq = f.filter(pl.col("user_idx") == u).sort("pos").get_column("item_idx").to_numpy()
        assert np.array_equal(test.histories[i], seq[:-1])
        assert np.array_equal(valid.histories[i], seq[:-2])


def test_exact_time_order_differs_from_recbole_on_ties(data_dir: Path, tmp_path: Path) -> None:
    ds = prepare(data_dir / "ml-100k-recbole", tmp_path, "recbole", DataConfig(time_order="exact"))
    ref = pl.read_csv(
        data_dir / "ml-100k-recbole" / "recbole_loo_split.tsv", separator="\t", infer_schema=False
    )
    c = ds.eval_cases("test")
    got = dict(
        zip(
            ds.user_vocab.external(c.users),
            ds.item_vocab.external(np.concatenate(c.targets)),
            strict=True,
        )
    )
    mismatched = sum(got[u] != t for u, _, t in ref.iter_rows())
    assert 0 < mismatched < 10  # only users whose last events are seconds apart


def _events(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 2000
    df = pl.DataFrame(
        {
            "user_id": rng.integers(0, 50, n).astype(str),
            "item_id": rng.integers(0, 200, n).astype(str),
            "timestamp": np.sort(rng.integers(1_000_000, 2_000_000, n)),
        }
    )
    p = tmp_path / "e.csv"
    df.write_csv(p)
    return p


def test_temporal_split_cuts_by_global_time(tmp_path: Path) -> None:
    p = _events(tmp_path)
    ds = prepare(
        p, tmp_path / "out", "csv", DataConfig(split="temporal", valid_cut=0.7, test_cut=0.85)
    )
    f = ds.frame
    cuts = ds.schema["split"]
    tr = f.filter(pl.col("split") == 0).get_column("timestamp")
    va = f.filter(pl.col("split") == 1).get_column("timestamp")
    te = f.filter(pl.col("split") == 2).get_column("timestamp")
    assert tr.max() < cuts["valid_cut"] <= va.min() and va.max() < cuts["test_cut"] <= te.min()
    assert abs(te.len() / f.height - 0.15) < 0.01
    c = ds.eval_cases("test")
    for h, u in zip(c.histories[:10], c.users[:10], strict=True):
        before = f.filter((pl.col("user_idx") == u) & (pl.col("split") < 2))
        assert len(h) == before.height


def _recbole_split_ids(tot: int, ratios: list[float]) -> list[int]:
    """RecBole 1.2.1 ``Dataset._calcu_split_ids``, restated."""
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return [int(x) for x in np.cumsum(cnt)[:-1]]


def test_ratio_counts_match_recbole() -> None:
    n = np.arange(1, 400)
    for ratios in ([0.8, 0.1, 0.1], [0.7, 0.15, 0.15], [0.6, 0.0, 0.4]):
        train_end, valid_end = ratio_counts(n, ratios[1], ratios[2])
        for tot, a, b in zip(n, train_end, valid_end, strict=True):
            assert [a, b] == _recbole_split_ids(int(tot), ratios), (tot, ratios)
    # by hand, 80/10/10: one event trains; two: train + test; five: 3/1/1; ten: 8/1/1
    ends = ratio_counts(np.array([1, 2, 5, 10, 25]), 0.1, 0.1)
    assert ends[0].tolist() == [1, 1, 3, 8, 21] and ends[1].tolist() == [1, 1, 4, 9, 23]


def test_ratio_split_takes_each_users_latest_events(tmp_path: Path) -> None:
    p = _events(tmp_path)
    ds = prepare(p, tmp_path / "out", "csv", DataConfig(split="ratio"))
    f = ds.frame
    assert ds.schema["split"]["kind"] == "ratio"
    for u in range(0, ds.n_users, 7):
        rows = f.filter(pl.col("user_idx") == u + 1).sort("pos")
        if rows.height == 0:
            continue
        split = rows.get_column("split").to_numpy()
        assert (np.diff(split) >= 0).all()  # train, then valid, then test, in time order
        n = rows.height
        assert (split == 2).sum() == max(n // 10, 1 if n >= 2 else 0)
    c = ds.eval_cases("test")
    assert len(c.users) == ds.n_users  # every user with two or more events is tested
    assert all(len(h) > 0 for h in c.histories)


def test_ratio_split_rejects_cuts_out_of_order(tmp_path: Path) -> None:
    p = _events(tmp_path)
    with pytest.raises(ConfigError, match="ratio"):
        prepare(p, tmp_path / "o", "csv", DataConfig(split="ratio", valid_cut=0.9, test_cut=0.8))


def test_cold_item_split_withholds_items_from_training(tmp_path: Path) -> None:
    p = _events(tmp_path)
    cfg = DataConfig(split="cold-items", cold_item_share=0.2, seed=7)
    ds = prepare(p, tmp_path / "a", "csv", cfg)
    cold = set(ds.schema["split"]["cold_items"])
    assert abs(len(cold) - 0.2 * ds.n_items) <= 1
    train_items = set(ds.split_frame("test").get_column("item_idx").to_list())
    assert not (cold & train_items)
    c = ds.eval_cases("test")
    assert all(set(t.tolist()) <= cold for t in c.targets)
    assert all(not (set(h.tolist()) & cold) for h in c.histories)
    again = prepare(p, tmp_path / "b", "csv", cfg)
    assert again.schema["split"]["cold_items"] == ds.schema["split"]["cold_items"]
    other = prepare(p, tmp_path / "c", "csv", cfg.model_copy(update={"seed": 8}))
    assert other.schema["split"]["cold_items"] != ds.schema["split"]["cold_items"]
    assert PreparedDataset.load(tmp_path / "a").frame.equals(ds.frame)
