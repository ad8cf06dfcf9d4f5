"""The synthetic generator: exact sizes, determinism, funnel, planted facets, loader round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prismrec.config import load_config
from prismrec.data.loaders import load
from prismrec.data.synth import SynthResult, synthesize
from prismrec.errors import ConfigError

N_USERS, N_ITEMS, N_EVENTS = 300, 400, 30_000


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    out = tmp_path_factory.mktemp("synth")
    return synthesize(N_USERS, N_ITEMS, N_EVENTS, seed=7, out_dir=out)


@pytest.fixture(scope="module")
def events(synth: SynthResult) -> pl.DataFrame:
    """Interactions with the item topic, the row's position in its user's history and its third."""
    return (
        synth.interactions.with_row_index("_row")
        .join(synth.item_topics.select("item_id", "topic"), on="item_id")
        .sort("_row")
        .with_columns(
            pl.int_range(pl.len()).over("user_id").alias("pos"),
            pl.len().over("user_id").alias("n"),
        )
        .with_columns((3 * pl.col("pos") // pl.col("n")).alias("third"))
    )


def _frames(r: SynthResult) -> list[pl.DataFrame]:
    return [r.interactions, r.items, r.users, r.facets, r.item_topics]


def test_exact_sizes_and_minimum_per_user(synth: SynthResult) -> None:
    inter = synth.interactions
    assert inter.height == N_EVENTS
    assert synth.items.height == N_ITEMS and synth.items["item_id"].n_unique() == N_ITEMS
    assert synth.users.height == N_USERS
    counts = inter.group_by("user_id").len()["len"]
    assert counts.len() == N_USERS and counts.min() >= 5
    assert counts.max() > 3 * counts.median()  # heavy tail
    assert synth.facets.height == 3 * N_USERS
    assert inter.schema["timestamp"] == pl.Int64
    assert inter.select(pl.struct("user_id", "timestamp")).to_series().is_sorted()


def test_deterministic_for_a_seed() -> None:
    a, b = synthesize(50, 60, 1_000, seed=3), synthesize(50, 60, 1_000, seed=3)
    c = synthesize(50, 60, 1_000, seed=4)
    for x, y in zip(_frames(a), _frames(b), strict=True):
        assert x.equals(y)
    assert not a.interactions.equals(c.interactions)
    assert not a.facets.equals(c.facets)


def test_funnel_order(synth: SynthResult) -> None:
    inter = synth.interactions
    per_pair = inter.pivot(
        on="event_type", index=["user_id", "item_id"], values="timestamp", aggregate_function="len"
    ).fill_null(0)
    for col in ("view", "click", "cart", "purchase"):
        if col not in per_pair.columns:
            per_pair = per_pair.with_columns(pl.lit(0).alias(col))
    assert (per_pair["purchase"] <= per_pair["cart"]).all()
    assert (per_pair["cart"] <= per_pair["click"]).all()
    assert (per_pair["click"] <= per_pair["view"]).all()
    totals = inter["event_type"].value_counts().to_dict(as_series=False)
    n = dict(zip(totals["event_type"], totals["count"], strict=True))
    assert 0 < n["purchase"] < n["cart"] < n["click"] < n["view"]
    # every purchase has an earlier view of the same item by the same user
    views = inter.filter(pl.col("event_type") == "view").select(
        "user_id", "item_id", "timestamp", pl.col("timestamp").alias("view_ts")
    )
    buys = inter.filter(pl.col("event_type") == "purchase").sort("timestamp")
    matched = buys.join_asof(
        views.sort("timestamp"),
        on="timestamp",
        by=["user_id", "item_id"],
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by time; polars cannot verify per group
    )
    assert matched["view_ts"].null_count() == 0
    assert (matched["view_ts"] < matched["timestamp"]).all()


def test_hour_is_utc_hour_of_timestamp(synth: SynthResult) -> None:
    inter = synth.interactions
    utc_hour = pl.from_epoch(inter["timestamp"], time_unit="s").dt.hour()
    assert (inter["hour"].cast(pl.Int32) == utc_hour.cast(pl.Int32)).all()


def test_contexts_follow_user_habits(synth: SynthResult) -> None:
    top = (
        synth.interactions.group_by("user_id", "device")
        .len()
        .group_by("user_id")
        .agg((pl.col("len").max() / pl.col("len").sum()).alias("share"))
    )
    assert top["share"].mean() > 0.7


def test_planted_facets_explain_the_events(synth: SynthResult, events: pl.DataFrame) -> None:
    facets = synth.facets.select(
        "user_id", pl.col("facet").alias("topic"), pl.lit(True).alias("in")
    )
    share = (
        events.join(facets, on=["user_id", "topic"], how="left")
        .group_by("user_id")
        .agg(pl.col("in").fill_null(False).mean().alias("share"))
    )
    assert share["share"].mean() > 0.9
    assert (share["share"] > 0.9).mean() > 0.85


def test_facet_weights_drift_over_time(synth: SynthResult, events: pl.DataFrame) -> None:
    rising = (
        synth.facets.with_columns((pl.col("weight_end") - pl.col("weight_start")).alias("gain"))
        .sort("gain", descending=True)
        .unique("user_id", keep="first")
        .select("user_id", pl.col("facet").alias("rising"))
    )
    thirds = (
        events.filter(pl.col("n") >= 60)
        .join(rising, on="user_id")
        .group_by("user_id")
        .agg(
            (pl.col("topic") == pl.col("rising")).filter(pl.col("third") == 0).mean().alias("a"),
            (pl.col("topic") == pl.col("rising")).filter(pl.col("third") == 2).mean().alias("z"),
        )
    )
    assert thirds.height >= 50
    assert (thirds["z"] > thirds["a"]).mean() > 0.8


def test_titles_reveal_topics(synth: SynthResult) -> None:
    """A bag-of-words nearest-topic rule fitted on half the items labels the other half."""
    words = synth.items.select(
        "item_id", "category", pl.col("title").str.split(" ").alias("w")
    ).with_row_index("i")
    fit, held = words.filter(pl.col("i") % 2 == 0), words.filter(pl.col("i") % 2 == 1)
    table = fit.explode("w").group_by("w", "category").len()
    scores = (
        held.explode("w")
        .join(table, on="w")
        .with_columns(pl.col("len") / pl.col("len").sum().over("w"))
        .group_by("item_id", "category_right")
        .agg(pl.col("len").sum())
        .sort("len", descending=True)
        .unique("item_id", keep="first")
        .join(held, on="item_id")
    )
    accuracy = (scores["category_right"] == scores["category"]).mean()
    assert accuracy > 0.9


def test_loader_round_trip(synth: SynthResult) -> None:
    out = synth.out_dir
    assert out is not None
    for name in ("interactions", "items", "users"):
        assert (out / f"{name}.parquet").is_file()
    assert (out / "truth" / "facets.parquet").is_file()
    assert (out / "truth" / "item_topics.parquet").is_file()
    result = load(out, "parquet", load_config(Path(out) / "prismrec.toml").data)
    assert result.rows_bad == 0
    assert result.rows_ok == N_EVENTS
    ds = result.dataset
    assert set(ds.context_columns) == {"device", "hour"}
    assert set(ds.user_columns) == {"age_group", "gender", "region"}
    assert ds.items is not None and ds.items.schema["tags"] == pl.List(pl.String)


def test_rejects_impossible_sizes() -> None:
    with pytest.raises(ConfigError, match="at least 5 events"):
        synthesize(10, 10, 49)
    with pytest.raises(ConfigError, match="facets_per_user"):
        synthesize(10, 10, 100, n_topics=2, facets_per_user=3)


def test_more_topics_than_named_vocabularies() -> None:
    r = synthesize(40, 300, 1_000, seed=1, n_topics=25)
    assert r.items["category"].n_unique() == 25
    assert np.isclose(
        r.item_topics.group_by("topic").agg(pl.col("popularity").sum())["popularity"].to_numpy(),
        1.0,
    ).all()
