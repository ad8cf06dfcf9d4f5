"""Planted synthetic users with known facets: one interest per facet, and steering follows them."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl
import pytest

from prismrec.config import ModelConfig, TrainConfig, load_config
from prismrec.data.dataset import prepare
from prismrec.data.synth import synthesize
from prismrec.evaluation.interests import interest_snapshot
from prismrec.retrieval import Request, Retriever
from prismrec.training import PrismRecommender


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """400 users with 3 planted facets each (10 topics); prism with 3 routed interests."""
    tmp = tmp_path_factory.mktemp("planted")
    truth = synthesize(400, 400, 24_000, seed=3, out_dir=tmp / "raw", n_topics=10)
    ds = prepare(
        tmp / "raw", tmp / "prep", "parquet", load_config(tmp / "raw" / "prismrec.toml").data
    )
    model = ModelConfig(
        embedding_dim=32, n_layers=1, n_heads=1, n_interests=3, cooc_weight=0.0, extractor="route"
    )
    rec = PrismRecommender(model, TrainConfig(epochs=10, batch_size=64, patience=10)).fit(ds)
    topic = dict(zip(truth.item_topics["item_id"], truth.item_topics["topic"], strict=True))
    ext = ds.item_vocab.external(np.arange(1, ds.n_items + 1))
    return {
        "rec": rec,
        "ds": ds,
        "truth": truth,
        "topics": np.array(["?", *(topic[e] for e in ext)]),
    }


@pytest.mark.slow
def test_each_planted_facet_gets_its_own_interest(planted: dict[str, Any]) -> None:
    rec, ds, topics = planted["rec"], planted["ds"], planted["topics"]
    cases = ds.eval_cases("test")
    snap = interest_snapshot(rec, cases.users, cases.inputs(), 20)
    facets = planted["truth"].facets.group_by("user_id").agg(pl.col("facet")).iter_rows()
    facets_of = dict(facets)
    found = []
    n_long = snap.interests.long_rows  # the short-term row is not a facet
    for user, top in zip(ds.user_vocab.external(cases.users), snap.top[:, :n_long], strict=True):
        main = {pl.Series(topics[row]).mode().sort()[0] for row in top}
        found.append(len(set(facets_of[user]) & main) / len(facets_of[user]))
    means = {k: float(np.nanmean(v)) for k, v in snap.metrics().items()}
    # three planted facets per user, three interests: most facets are some interest's main
    # topic (routed interests with a short-term row find 0.79 here; self-attentive ones 0.66)
    assert float(np.mean(found)) >= 0.70, (float(np.mean(found)), means)
    # near-copies overlap near 1; the bound is issue #26's for real data (runs give about
    # 0.15 here: 0.151-0.152 since the bfloat16 products pad their rows, just under 0.15
    # before, a change in the last bits of the logits)
    assert means["interest_jaccard@20"] <= 0.20, means
    assert means["interest_cosine"] <= 0.5, means


@pytest.mark.slow
def test_muting_an_interest_drops_its_items_and_keeps_the_others(planted: dict[str, Any]) -> None:
    rec, ds = planted["rec"], planted["ds"]
    cases = ds.eval_cases("test")
    retriever = Retriever.from_model(rec)
    kept, checked = [], 0
    for u in range(40):
        got = rec.interests([cases.inputs()[u]], cases.users[u : u + 1])
        user = dataclasses.replace(got.user(0), n_long=None)
        base = retriever.recommend(user, cases.histories[u], Request(k=12))
        by_interest = {x["interest"] for x in base}
        if len(by_interest) < 2:
            continue
        muted_k = max(by_interest, key=lambda i: sum(x["interest"] == i for x in base))
        muted = retriever.recommend(user, cases.histories[u], Request(k=12), mute=muted_k)
        assert all(x["interest"] != muted_k for x in muted)
        others = {x["item"] for x in base if x["interest"] != muted_k}
        kept.append(len(others & {x["item"] for x in muted}) / len(others))
        checked += 1
    assert checked >= 20
    # the other interests' items stay in the list (the freed slots take new ones)
    assert float(np.mean(kept)) >= 0.8, kept
