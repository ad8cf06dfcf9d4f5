"""Every loader reads the real shared files with exact row/user/item counts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prismrec.data.loaders import detect_format, load
from prismrec.errors import DataError


def _counts(r):
    i = r.dataset.interactions
    return (
        r.rows_ok,
        r.rows_bad,
        i.get_column("user_id").n_unique(),
        i.get_column("item_id").n_unique(),
    )


def test_movielens_100k_raw(data_dir: Path) -> None:
    r = load(data_dir / "ml-100k", "movielens-100k")
    assert _counts(r) == (100_000, 0, 943, 1682)
    items = r.dataset.items
    assert items is not None and items.height == 1682
    toy = items.filter(pl.col("item_id") == "1").row(0, named=True)
    assert toy["title"] == "Toy Story" and toy["year"] == 1995.0
    assert set(toy["genres"]) == {"Animation", "Children's", "Comedy"}
    # Latin-1 titles decode to the right characters
    assert items.filter(pl.col("title").str.contains("é")).height > 0
    users = r.dataset.users
    assert users is not None and users.height == 943
    assert set(r.dataset.interactions.get_column("event_type").unique()) == {"rating"}


def test_recbole_atomic(data_dir: Path) -> None:
    r = load(data_dir / "ml-100k-recbole", "recbole")
    assert _counts(r) == (100_000, 0, 943, 1682)
    assert r.dataset.items is not None and r.dataset.items.height == 1682
    assert r.dataset.item_fields.text == ("movie_title",)
    assert r.dataset.item_fields.multi == ("class",)
    assert r.dataset.users is not None and r.dataset.users.height == 943
    # same rows in the same order as u.data
    raw = load(data_dir / "ml-100k" / "u.data", "movielens-100k").dataset.interactions
    a = r.dataset.interactions.select("user_id", "item_id", "timestamp", "value")
    assert a.equals(raw.select("user_id", "item_id", "timestamp", "value"))


@pytest.mark.parametrize("sub", ["ml-latest-small.zip"])
def test_movielens_latest_zip(data_dir: Path, sub: str) -> None:
    r = load(data_dir / "ml-latest-small" / sub)
    assert _counts(r) == (100_836, 0, 610, 9724)
    items = r.dataset.items
    assert items is not None and items.height == 9742
    tagged = items.filter(pl.col("tags").list.len() > 0)
    assert tagged.height == 1572  # movies with at least one tag in tags.csv
    assert r.dataset.interactions.get_column("value").min() == 0.5


def test_movielens_latest_folder(tmp_path: Path, data_dir: Path) -> None:
    import zipfile

    zipfile.ZipFile(data_dir / "ml-latest-small" / "ml-latest-small.zip").extractall(tmp_path)
    r = load(tmp_path / "ml-latest-small")
    assert _counts(r) == (100_836, 0, 610, 9724)


def test_taobao_truncated_last_line(data_dir: Path) -> None:
    f = data_dir / "taobao-userbehavior-head" / "UserBehavior.csv"
    r = load(f)
    assert _counts(r) == (84_475, 1, 815, 55_368)
    ev = r.dataset.interactions.get_column("event_type").value_counts().sort("event_type")
    # the README counts 75,873 pv including the cut-off last row, which is a pv
    assert dict(ev.iter_rows()) == {
        "view": 75_872,
        "cart": 4_497,
        "favorite": 2_356,
        "purchase": 1_750,
    }
    (p,) = r.problems.problems
    assert p.kind == "truncated_line" and p.line == 84_476 and p.file == str(f)
    assert (
        r.dataset.items is not None and r.dataset.items.get_column("category").n_unique() == 2_914
    )


def test_tianchi(data_dir: Path) -> None:
    r = load(data_dir / "tianchi-mobile-sample" / "sample_user_behavior.csv")
    assert _counts(r) == (1_999, 0, 34, 1_689)
    i = r.dataset.interactions
    assert set(i.get_column("event_type").unique()) <= {"click", "favorite", "cart", "purchase"}
    # "2014-12-06 02" -> hour 2 UTC
    first = i.filter(pl.col("_line") == 2).row(0, named=True)
    assert first["timestamp"] == 1417831200
    assert "location" in r.dataset.context_columns


def test_seqtxt_and_pairtxt(tmp_path: Path) -> None:
    s = tmp_path / "seqs.txt"
    s.write_text("u1 a b c\nu2 b c\nu3 a\n")
    r = load(s)
    assert detect_format(s) == "seqtxt"
    i = r.dataset.interactions
    assert i.height == 6 and not r.dataset.has_time
    assert i.filter(pl.col("user_id") == "u1").get_column("item_id").to_list() == ["a", "b", "c"]
    p = tmp_path / "pairs.txt"
    p.write_text("u1 a\nu1 b\nu2 a\n")
    assert detect_format(p) == "pairtxt"
    r = load(p)
    assert r.rows_ok == 3 and r.dataset.interactions.get_column("timestamp").to_list() == [0, 1, 2]


def test_generic_csv_parquet_jsonl_with_mapping(tmp_path: Path) -> None:
    from prismrec.config import DataConfig

    df = pl.DataFrame(
        {
            "uid": ["1", "1", "2"],
            "iid": ["x", "y", "x"],
            "ts": [1, 2, 3],
            "device": ["mobile", "web", "web"],
        }
    )
    cfg = DataConfig(
        columns={"user_id": "uid", "item_id": "iid", "timestamp": "ts"}, context_columns=["device"]
    )
    df.write_csv(tmp_path / "e.csv")
    df.write_parquet(tmp_path / "e.parquet")
    df.write_ndjson(tmp_path / "e.jsonl")
    for name, fmt in [("e.csv", "csv"), ("e.parquet", "parquet"), ("e.jsonl", "jsonl")]:
        r = load(tmp_path / name, fmt, cfg)
        assert r.rows_ok == 3 and r.rows_bad == 0, name
        assert r.dataset.interactions.get_column("device").to_list() == ["mobile", "web", "web"]
        assert r.dataset.interactions.get_column("event_type").unique().to_list() == ["interaction"]


def test_undetectable_format_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "mystery.bin"
    p.write_bytes(b"\x00\x01")
    with pytest.raises(DataError, match="cannot detect the data format; pass --format"):
        load(p)
    with pytest.raises(DataError, match="unknown format 'nope'"):
        load(p, "nope")
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "missing.csv")
