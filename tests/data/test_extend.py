"""Extending a prepared dataset with live events: rows kept, new ids appended, deletions."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prismrec.config import DataConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.extend import ItemRecord, deleted_user_id, extend_prepared
from prismrec.errors import DataError


def live(rows: list[tuple[int, str, str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["seq", "user_id", "item_id", "event_type", "timestamp"], orient="row"
    )


@pytest.fixture
def base(tiny_csv: Path, tmp_path: Path) -> PreparedDataset:
    return prepare(tiny_csv, tmp_path / "base", "csv", DataConfig(dedup=False))


def test_existing_ids_keep_their_rows_and_new_ones_are_appended(
    base: PreparedDataset, tmp_path: Path
) -> None:
    events = live(
        [
            (1, "zed", "new-b", "view", 1000),  # new user, item known only from events
            (2, "u1", "a", "click", 900),
            (3, "amy", "new-a", "view", 1001),  # new user, item from the item log
            (4, "u1", "new-a", "purchase", 950),
        ]
    )
    items = [ItemRecord("new-a", {}), ItemRecord("a", None)]  # a new item; 'a' removed
    out = extend_prepared(base, tmp_path / "out", events, items).data
    reloaded = PreparedDataset.load(tmp_path / "out")
    for ds in (out, reloaded):
        old_users, old_items = base.user_vocab.ids.tolist(), base.item_vocab.ids.tolist()
        assert ds.user_vocab.ids.tolist() == [*old_users, "zed", "amy"]  # first-event order
        assert ds.item_vocab.ids.tolist() == [*old_items, "new-a", "new-b"]  # log, then events
        assert ds.schema["n_users"] == len(old_users) + 2
        assert ds.schema["n_items"] == len(old_items) + 2
    assert reloaded.schema["extends"]["removed_items"] == ["a"]
    # u1's original events in their order, then the live ones by time
    u1 = base.user_vocab.index("u1")
    before = base.frame.filter(pl.col("user_idx") == u1).sort("pos")
    after = reloaded.frame.filter(pl.col("user_idx") == u1).sort("pos")
    rows = reloaded.item_vocab.lookup(["a", "new-a"]).tolist()
    assert after["item_idx"].to_list() == [*before["item_idx"].to_list(), *rows]
    assert after["pos"].to_list() == list(range(after.height))
    # features of the original events unchanged; the live ones' gap counts from the last one
    n = before.height
    for col in ("hour", "weekday", "gap_bucket", "event_idx"):
        assert after[col].to_list()[:n] == before[col].to_list(), col
    # bounds 0, 60, 600 ...: 500 s after u1's last original event, then 50 s
    assert after["gap_bucket"].to_list()[n:] == [3, 2]
    # leave-one-out on the whole sequence: the last live event is u1's test target now
    assert after["split"].to_list()[-2:] == [1, 2]


def test_deleted_users_lose_events_and_id_and_may_come_back_as_new(
    base: PreparedDataset, tmp_path: Path
) -> None:
    events = live([(1, "u2", "b", "view", 5000)])  # u2 deleted, then came back
    out = extend_prepared(base, tmp_path / "out", events, deleted_users={"u2", "u3"}).data
    users = out.user_vocab.ids.tolist()
    r2, r3 = base.user_vocab.index("u2"), base.user_vocab.index("u3")
    assert users[r2] == deleted_user_id(r2) and users[r3] == deleted_user_id(r3)
    assert users[-1] == "u2" and "u3" not in users
    assert out.frame.filter(pl.col("user_idx").is_in([r2, r3])).height == 0
    back = out.frame.filter(pl.col("user_idx") == len(users) - 1)
    assert back["item_idx"].to_list() == [out.item_vocab.index("b")]
    assert out.frame.height == base.frame.height - 8 + 1  # u2's 4 and u3's 4 events out


def test_unknown_event_types_are_skipped(base: PreparedDataset, tmp_path: Path) -> None:
    events = live([(1, "u1", "a", "teleport", 900), (2, "u1", "b", "view", 901)])
    report = extend_prepared(base, tmp_path / "out", events)
    assert (report.events_added, report.events_skipped) == (1, 1)
    assert report.data.frame.height == base.frame.height + 1


def test_bad_inputs_are_clear_errors(base: PreparedDataset, tmp_path: Path) -> None:
    events = live([(1, "u1", "a", "view", 900)])
    with pytest.raises(DataError, match="new directory"):
        extend_prepared(base, base.root, events)
    with pytest.raises(DataError, match="lack column"):
        extend_prepared(base, tmp_path / "out", events.drop("seq"))
