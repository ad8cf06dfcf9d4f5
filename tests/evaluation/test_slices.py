"""Slices: hand-made masks, and membership on synthetic splits checked against the raw frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prismrec.config import load_config
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.synth import synthesize
from prismrec.evaluation.slices import (
    activity_buckets,
    cold_items_of,
    dataset_slices,
    slice_masks,
    slice_means,
)


def _synth(root: Path, split: str) -> PreparedDataset:
    synthesize(120, 90, 3000, seed=5, out_dir=root / "raw")
    cfg = load_config(root / "raw" / "prismrec.toml").data.model_copy(update={"split": split})
    return prepare(root / "raw", root / "prep", "parquet", cfg)


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return _synth(tmp_path_factory.mktemp("cold"), "cold-items")


@pytest.fixture(scope="module")
def loo(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    return _synth(tmp_path_factory.mktemp("loo"), "loo")


def test_slice_masks_hand_made() -> None:
    lengths = np.array([0, 5, 6, 20, 21, 500])
    targets = [np.array([1]), np.array([2, 9]), np.array([3]), np.array([9]), [], np.array([4])]
    events = np.array([1, 2, 2, 1, 1, 2])
    m = slice_masks(lengths, targets, events, np.array([9]), {1: "view", 2: "buy"}, (5, 20))
    assert m["cold_items"].tolist() == [False, True, False, True, False, False]
    assert m["short_history"].tolist() == [True, True, False, False, False, False]
    assert m["activity_0-5"].tolist() == m["short_history"].tolist()
    assert m["activity_6-20"].tolist() == [False, False, True, True, False, False]
    assert m["activity_21+"].tolist() == [False, False, False, False, True, True]
    assert m["event_view"].tolist() == (events == 1).tolist()
    assert m["event_buy"].tolist() == (events == 2).tolist()
    # one event type only: no per-event slices (they would repeat the overall row)
    assert not any(k.startswith("event_") for k in slice_masks(lengths, targets, events * 0 + 1))


def test_activity_buckets_partition_users() -> None:
    lengths = np.arange(0, 400)
    masks = activity_buckets(lengths)
    assert np.all(np.sum(list(masks.values()), axis=0) == 1)


def test_slice_means_and_empty_slices() -> None:
    per_user = {"ndcg@10": np.array([1.0, 0.0, 0.5]), "ic@10": np.array([np.nan, 1.0, 0.0])}
    out = slice_means(per_user, {"a": np.array([True, True, False]), "none": np.zeros(3, bool)})
    assert out["a"] == {"n_users": 2, "ndcg@10": 0.5, "ic@10": 1.0}
    assert out["none"] == {"n_users": 0}


def _history_lengths(ds: PreparedDataset, code: int) -> pl.DataFrame:
    """Independent count: events before each user's first event of split ``code``."""
    f = ds.frame
    first = f.filter(pl.col("split") == code).group_by("user_idx").agg(pl.col("pos").min())
    return (
        f.join(first, on="user_idx", suffix="_t")
        .group_by("user_idx")
        .agg(((pl.col("pos") < pl.col("pos_t")) & (pl.col("split") < code)).sum().alias("n"))
        .sort("user_idx")
    )


def test_cold_item_split_membership(cold: PreparedDataset) -> None:
    cases = cold.eval_cases("test")
    masks = dataset_slices(cold, cases, "test")
    listed = set(cold.schema["split"]["cold_items"])
    found = set(cold_items_of(cold, "test").tolist())
    # the split's cold items, plus catalogue items nobody ever touched
    assert listed <= found
    assert not (found - listed) & set(cold.frame.get_column("item_idx").to_list())
    # in the cold-item split every test event is on a cold item: every test user is in the slice
    expected = [bool(set(t.tolist()) & listed) for t in cases.targets]
    assert masks["cold_items"].tolist() == expected and all(expected)
    lengths = _history_lengths(cold, 2)
    assert lengths.get_column("user_idx").to_list() == cases.users.tolist()
    n = lengths.get_column("n").to_numpy()
    assert masks["short_history"].tolist() == (n <= 5).tolist()
    assert masks["activity_21-50"].tolist() == ((n >= 21) & (n <= 50)).tolist()


def test_loo_membership_and_behaviour_slices(loo: PreparedDataset) -> None:
    cases = loo.eval_cases("test")
    masks = dataset_slices(loo, cases, "test")
    train_items = set(loo.split_frame("test").get_column("item_idx").to_list())
    expected = [bool(set(t.tolist()) - train_items) for t in cases.targets]
    assert masks["cold_items"].tolist() == expected
    # behaviour of the (single) test event, read straight from the frame and the vocabulary
    events = pl.read_parquet(loo.root / "vocab" / "events.parquet")
    name = dict(zip(events["idx"].to_list(), events["id"].to_list(), strict=True))
    test = loo.frame.filter(pl.col("split") == 2).sort("user_idx")
    ev = [name[e] for e in test.get_column("event_idx").to_list()]
    assert len(set(ev)) > 1
    for e in set(ev):
        assert masks[f"event_{e}"].tolist() == [x == e for x in ev]
