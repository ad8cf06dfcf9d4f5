"""Preprocessing on tiny hand-made data, and the prepared artifact's round trip."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

from prismrec.config import DataConfig
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.errors import DataError


def test_round_trip_gives_identical_tensors(tiny_csv: Path, tmp_path: Path) -> None:
    ds = prepare(tiny_csv, tmp_path / "p", "csv", DataConfig(max_seq_len=3))
    back = PreparedDataset.load(tmp_path / "p")
    a, b = ds.tensors("test"), back.tensors("test")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # u1: a b c d -> train+valid = a b c, left-padded to 3
    u1 = back.user_vocab.index("u1")
    row = a["item_idx"][a["user_idx"].tolist().index(u1)]
    assert back.item_vocab.external(row.tolist()) == ["a", "b", "c"]


def test_event_weights_types_and_time_features(tiny_csv: Path, tmp_path: Path) -> None:
    ds = prepare(tiny_csv, tmp_path / "p", "csv")
    f = ds.frame.sort("user_idx", "pos")
    u1 = f.filter(pl.col("user_idx") == ds.user_vocab.index("u1"))
    assert u1.get_column("weight").to_list() == [1.0, 2.0, 4.0, 1.0]  # view click purchase view
    # gaps of 100 s fall in bucket (60, 600] = 3; the first event has none (0)
    assert u1.get_column("gap_bucket").to_list() == [0, 3, 3, 3]
    assert u1.get_column("hour").to_list() == [1, 1, 1, 1]  # 00:xx UTC -> 0 + 1
    assert ds.schema["event_types"]["purchase"] == 4.0


def test_rating_threshold_dedup_and_kcore(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text(
        "user_id,item_id,timestamp,value\n"
        "1,a,1,5\n1,a,1,5\n1,b,2,2\n1,c,3,4\n2,a,1,4\n2,c,2,5\n3,a,1,5\n3,d,2,5\n"
    )
    cfg = DataConfig(rating_threshold=4, dedup=True, min_item_interactions=2)
    ds = prepare(p, tmp_path / "o", "csv", cfg)
    # b dropped by threshold, duplicate (1,a,1) removed, d has one event -> removed by 2-core
    assert sorted(ds.item_vocab.external(range(1, ds.n_items + 1))) == ["a", "c"]
    assert ds.schema["n_events"] == 5
    with pytest.raises(DataError, match="no interactions left"):
        prepare(p, tmp_path / "x", "csv", DataConfig(rating_threshold=10))


def test_vocabularies_are_saved_and_catalogue_items_kept(tmp_path: Path) -> None:
    d = tmp_path / "shop"
    d.mkdir()
    (d / "interactions.csv").write_text("user_id,item_id,timestamp\nu,a,1\nu,b,2\nv,a,3\n")
    (d / "items.csv").write_text("item_id,title\na,Alpha\nb,Beta\nz,Never bought\n")
    ds = prepare(d, tmp_path / "o", "csv", DataConfig(item_text_fields=["title"]))
    assert ds.n_items == 3 and "z" in ds.item_vocab  # cold catalogue item is rankable
    back = PreparedDataset.load(tmp_path / "o")
    assert back.user_vocab.external([0, 1]) == ["u", "v"]
    assert (
        back.items_frame.filter(pl.col("item_id") == "z").get_column("title").item()
        == "Never bought"
    )


def test_load_of_non_prepared_dir_is_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a prepared dataset"):
        PreparedDataset.load(tmp_path)
