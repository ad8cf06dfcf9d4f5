"""Served candidates are scored as offline: catalogue statistics from moments and sparse sums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from prismrec.retrieval import ExactIndex, UserContext
from prismrec.retrieval.moments import ItemMoments
from prismrec.retrieval.pipeline import Request, Retriever
from prismrec.retrieval.priors import ScorePriors
from prismrec.serving.engine.service import Service
from prismrec.serving.settings import ServeSettings
from prismrec.training import load_model
from prismrec.training.base import item_array


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def test_moments_give_the_dense_logit_stats_and_follow_changes() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 6))
    ids = np.arange(1, 51)
    mom = ItemMoments(ids, vecs)
    q = rng.normal(size=(3, 6))
    mean, sd = mom.logit_stats(q)
    dense = q @ vecs.T
    np.testing.assert_allclose(mean, dense.mean(1), rtol=1e-9)
    np.testing.assert_allclose(sd, dense.std(1) + 1e-9, rtol=1e-9)
    # item 7 changes, item 9 leaves, item 60 arrives: same as moments built afresh
    new7, new60 = rng.normal(size=(1, 6)), rng.normal(size=(1, 6))
    mom.remove(np.array([7, 9]), vecs[[6, 8]])
    mom.add(np.array([7, 60]), np.vstack([new7, new60]))
    after = vecs.copy()
    after[6] = new7
    keep = np.array([i for i in ids if i != 9])
    fresh = ItemMoments(np.append(keep, 60), np.vstack([after[keep - 1], new60]))
    for a, b in zip(mom.logit_stats(q), fresh.logit_stats(q), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    assert mom.n == 50 and mom.live[60] and not mom.live[9] and mom.live[7]


@pytest.fixture(scope="module")
def model(served_model: Path):
    m = load_model(served_model)
    m.cooc_weight = 1.5  # the tiny world may tune it to 0; the arithmetic is what is tested
    return m


def _table(model) -> np.ndarray:
    with torch.inference_mode():
        return model.net.item_table().numpy().astype(np.float64)


def test_served_own_scores_equal_the_offline_ones(model) -> None:
    """Every item's own score per interest, served from moments and sparse sums, is the
    offline scorer's (z-scored over the whole catalogue)."""
    table = _table(model)
    ids = np.arange(1, len(table))
    priors = ScorePriors.from_model(model, ids, table[1:])
    assert priors.similarity is not None and priors.repeat is not None
    users = sorted(model.user_histories)[:4]
    hists = [model.user_histories[u] for u in users]
    offline = model.interest_scores(hists, np.asarray(users))  # (B, K, N+1)
    out = model.interests(hists, users)
    for b, h in enumerate(hists):
        seq = item_array(h)
        prior = priors.interest_priors(out.attention[b], seq, 2)
        served = priors.own_scores(out.vectors[b], ids, table[1:], seq, prior)
        np.testing.assert_allclose(served, offline[b][:, 1:], rtol=1e-4, atol=1e-4)


def test_one_interest_prior_is_the_offline_recency_prior(model) -> None:
    """Without attention the prior is itemknn's recency-weighted one, tie-breaker included."""
    table = _table(model)
    ids = np.arange(1, len(table))
    priors = ScorePriors.from_model(model, ids, table[1:])
    seq = item_array(model.user_histories[sorted(model.user_histories)[0]])
    prior = priors.interest_priors(None, seq, 1)
    dense = model.cooc.score([seq])[0]
    np.testing.assert_allclose(prior.rows.toarray()[0] + prior.extra, dense, rtol=1e-5)
    want = _z(np.log(dense[1:] + 1e-4))
    np.testing.assert_allclose(priors.prior_z(prior, ids)[0], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("score_all_below", [0, 20_000])
def test_served_list_is_the_offline_list(model, score_all_below: int) -> None:
    """Every item scored (the default below 20k items), or searched 100 deep per interest plus
    the prior's nominees (60 items: all found): the served list, its order and its scores are
    the offline scorer's, on a first request and on a repeat one that reuses the user's kept
    context."""
    table = _table(model)
    ids = np.arange(1, len(table))
    priors = ScorePriors.from_model(model, ids, table[1:])
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    retriever = Retriever(index, priors=priors, score_all_below=score_all_below)
    users = sorted(model.user_histories)[:6]
    hists = [model.user_histories[u] for u in users]
    out = model.interests(hists, users)
    offline, off_scores = model.recommend(hists, k=8, users=np.asarray(users))
    for row, h in enumerate(hists):
        seq, context = item_array(h), UserContext()
        for _ in range(2):
            got = retriever.recommend(out.user(row), seq, Request(k=8), context=context)
            assert [g["item"] for g in got] == offline[row].tolist()
            np.testing.assert_allclose([g["score"] for g in got], off_scores[row], rtol=1e-4)
    # muting an interest drops every item it owns, and gives it no slots
    muted = retriever.recommend(out.user(0), item_array(hists[0]), Request(k=6, mute=0))
    assert len(muted) == 6 and all(g["interest"] != 0 for g in muted)


def test_sampled_statistics_stay_close_to_the_exact_ones(model) -> None:
    """A catalogue larger than the reference sample: final scores from a 30-item sample."""
    table = _table(model)
    ids = np.arange(1, len(table))
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    exact = ScorePriors.from_model(model, ids, table[1:])
    sampled = ScorePriors.from_model(model, ids, table[1:])
    sampled.reference_size = 30
    user = sorted(model.user_histories)[2]
    seq = item_array(model.user_histories[user])
    out = model.interests([model.user_histories[user]], [user])
    items = ids[:20]
    args = (out.vectors[0], out.weights[0], items, table[items], seq, index)
    a, b = exact.final_scores(*args), sampled.final_scores(*args)
    assert len(sampled.reference(index)[0]) == 30
    assert np.corrcoef(a, b)[0, 1] > 0.99 and not np.allclose(a, b)


def test_service_keeps_the_statistics_in_step_with_item_changes(
    served_model: Path, tmp_path: Path
) -> None:
    settings = ServeSettings(model_dir=served_model, store=f"sqlite:{tmp_path / 's.db'}")
    svc = Service(settings)
    svc.start()
    try:
        assert svc.priors is not None
        mom = svc.priors.moments
        n0 = mom.n
        assert n0 == len(svc.index)
        assert svc.retriever.priors is svc.priors
        svc.put_item("brand-new", {"title": "A brand new film", "genres": ["Drama"]})
        svc.sync_items(force=True)
        assert mom.n == n0 + 1 == len(svc.index)
        first = svc.catalog.external(svc.index.ids()[:1])[0]
        svc.delete_item(first)
        svc.sync_items(force=True)
        assert mom.n == n0 == len(svc.index)
        live = svc.index.ids()
        fresh = ItemMoments(live, svc.encoder.table[live].numpy())
        q = np.random.default_rng(1).normal(size=(2, svc.encoder.dim))
        for a, b in zip(mom.logit_stats(q), fresh.logit_stats(q), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        user = svc.users.external(np.array([1]))[0]
        res = svc.recommend(user, Request(k=5))
        assert len(res["items"]) == 5
    finally:
        svc.close()


def test_without_the_prior_the_served_list_is_still_the_offline_list(model) -> None:
    """Prior weight 0: logits stay raw (no z-scoring), the mixture and the quotas remain."""
    table = _table(model)
    ids = np.arange(1, len(table))
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    users = sorted(model.user_histories)[:5]
    hists = [model.user_histories[u] for u in users]
    saved, cfg = model.cooc_weight, model.model_config
    try:
        model.cooc_weight = 0.0
        model.model_config = cfg.model_copy(update={"quota_prior_weight": None})
        bare = ScorePriors.from_model(model, ids, table[1:])
        offline, off_scores = model.recommend(hists, k=8, users=np.asarray(users))
    finally:
        model.cooc_weight, model.model_config = saved, cfg
    assert bare.similarity is None and bare.weight == 0.0
    out = model.interests(hists, users)
    for row, h in enumerate(hists):
        seq = item_array(h)
        got = Retriever(index, priors=bare).recommend(out.user(row), seq, Request(k=8))
        assert [g["item"] for g in got] == offline[row].tolist()
        np.testing.assert_allclose([g["score"] for g in got], off_scores[row], rtol=1e-4)
    # unfiltered, a history item carries the learned repeat bias on top of its logit
    seq = item_array(hists[0])
    raw = bare.own_scores(out.vectors[0], seq[-1:], table[seq[-1:]], seq, None)
    logit = out.vectors[0] @ table[seq[-1]]
    rep = bare.repeat(seq).at(seq[-1:])[0]
    np.testing.assert_allclose(raw[:, 0], logit + rep + model.popularity[seq[-1]], rtol=1e-5)


def test_default_service_serves_the_offline_lists_over_http(api_factory, served_model) -> None:
    """``prismrec serve`` with no flag: a trained user's list over real HTTP is the one
    ``recommend`` gives offline (same items, same order); a new event moves it."""
    assert "offline_scores" not in ServeSettings.model_fields
    import polars as pl

    from prismrec.data.vocab import Vocabulary

    model = load_model(served_model)
    users = Vocabulary.load(served_model / "vocab" / "users.parquet", 0, "user")
    items = pl.read_parquet(served_model / "items.parquet")
    external = dict(zip(items["item_idx"].to_list(), items["item_id"].to_list(), strict=True))
    rows = sorted(model.user_histories)[:8]
    offline, _ = model.recommend(k=8, users=np.asarray(rows))
    server = api_factory()
    with server.client("read") as c:
        for row, want in zip(rows, offline, strict=True):
            uid = users.external([row])[0]
            got = c.get(f"/v1/users/{uid}/recommendations", params={"k": 8})
            assert got.status_code == 200 and got.json()["source"] == "personalised", got.text
            assert [x["item_id"] for x in got.json()["items"]] == [external[i] for i in want]
    t0 = 1_800_000_000
    with server.client("write") as c:
        first = c.post(
            "/v1/events",
            json={
                "events": [
                    {"user_id": "ann", "item_id": i, "event_type": "click", "timestamp": t0 + n}
                    for n, i in enumerate(["m1", "m4", "m7"])
                ]
            },
        )
        assert first.status_code == 200, first.text
        a = c.get("/v1/users/ann/recommendations", params={"k": 8})
        assert a.status_code == 200 and a.json()["source"] == "personalised"
        got_a = [x["item_id"] for x in a.json()["items"]]
        assert len(got_a) == 8 and not {"m1", "m4", "m7"} & set(got_a)
        ev = {"user_id": "ann", "item_id": "m2", "event_type": "click", "timestamp": t0 + 9}
        assert c.post("/v1/events", json={"events": [ev]}).status_code == 200
        b = c.get("/v1/users/ann/recommendations", params={"k": 8})
        assert [x["item_id"] for x in b.json()["items"]] != got_a


def test_items_the_prior_never_saw_are_served_as_offline(model) -> None:
    """Items without a training event are scored alike offline and when served (net for prior)."""
    import copy

    table = _table(model)
    ids = np.arange(1, len(table))
    cold = copy.deepcopy(model)
    unseen = ids[::3]
    cold.cooc.popularity = cold.cooc.popularity.copy()
    cold.cooc.popularity[unseen] = 0.0
    priors = ScorePriors.from_model(cold, ids, table[1:])
    assert not priors.seen[unseen].any() and priors.seen[ids[1::3]].all()
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    retriever = Retriever(index, priors=priors)
    users = sorted(cold.user_histories)[:4]
    hists = [cold.user_histories[u] for u in users]
    out = cold.interests(hists, users)
    offline, off_scores = cold.recommend(hists, k=8, users=np.asarray(users))
    for row, h in enumerate(hists):
        got = retriever.recommend(out.user(row), item_array(h), Request(k=8))
        assert [g["item"] for g in got] == offline[row].tolist()
        np.testing.assert_allclose([g["score"] for g in got], off_scores[row], rtol=1e-4)
    # the rule is in effect: the unseen items' scores move, the others' barely (the prior's
    # tie-breaker of the unseen items is gone)
    users_ = np.asarray(users)
    moved = np.abs(cold.score(hists, users_) - model.score(hists, users_))
    assert moved[:, unseen].max() > 10 * moved[:, ids[1::3]].max()


@pytest.mark.parametrize("depth", [4, None])
def test_quota_merged_lists_are_served_as_offline(model, depth) -> None:
    """With ``interest_quota`` the service drafts by the model's own ``QuotaRule`` (its depth,
    shares and temperature): the same lists as ``recommend``."""
    import copy

    quota = copy.deepcopy(model)
    quota.model_config = quota.model_config.model_copy(
        update={"interest_quota": True, "quota_depth": depth, "quota_temperature": 2.0}
    )
    assert quota.scorer.quota is not None
    table = _table(quota)
    ids = np.arange(1, len(table))
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    retriever = Retriever(index, priors=ScorePriors.from_model(quota, ids, table[1:]))
    users = sorted(quota.user_histories)[:6]
    hists = [quota.user_histories[u] for u in users]
    out = quota.interests(hists, users)
    offline, _ = quota.recommend(hists, k=8, users=np.asarray(users))
    plain, _ = model.recommend(hists, k=8, users=np.asarray(users))
    assert (offline != plain).any()  # the quotas change some lists
    for row, h in enumerate(hists):
        got = retriever.recommend(out.user(row), item_array(h), Request(k=8))
        assert [g["item"] for g in got] == offline[row].tolist()


@pytest.mark.parametrize("score_all_below", [0, 20_000])
def test_fresh_slots_are_served_as_offline(model, score_all_below: int) -> None:
    """With ``fresh_share`` the service fills a list's fresh slots by the model's own
    ``FreshRule``: every item scored or searched, the same lists as ``recommend``, and
    items without a training event reach lists they did not reach before."""
    import copy

    fresh = copy.deepcopy(model)
    table = _table(fresh)
    ids = np.arange(1, len(table))
    unseen = ids[::3]
    fresh.popularity = fresh.popularity.copy()
    fresh.popularity[unseen] = 0.0  # no training event
    fresh.cooc.popularity = fresh.cooc.popularity.copy()
    fresh.cooc.popularity[unseen] = 0.0
    fresh.model_config = fresh.model_config.model_copy(update={"fresh_share": 0.5})
    assert fresh.scorer.fresh is not None and fresh.scorer.fresh.slots(8) == 4
    index = ExactIndex(table.shape[1])
    index.add(ids, table[1:].astype(np.float32))
    priors = ScorePriors.from_model(fresh, ids, table[1:])
    retriever = Retriever(index, priors=priors, score_all_below=score_all_below)
    users = sorted(fresh.user_histories)[:6]
    hists = [fresh.user_histories[u] for u in users]
    out = fresh.interests(hists, users)
    offline, off_scores = fresh.recommend(hists, k=8, users=np.asarray(users))
    fresh.model_config = fresh.model_config.model_copy(update={"fresh_share": 0.0})
    plain, _ = fresh.recommend(hists, k=8, users=np.asarray(users))
    is_fresh = np.isin(offline, unseen)
    assert (is_fresh.sum(1) >= 4).all()  # four slots each
    assert is_fresh.sum() > np.isin(plain, unseen).sum()
    for row, h in enumerate(hists):
        got = retriever.recommend(out.user(row), item_array(h), Request(k=8))
        assert [g["item"] for g in got] == offline[row].tolist()
        np.testing.assert_allclose([g["score"] for g in got], off_scores[row], rtol=1e-4)
    # a request's own share on a model without slots serves the model-with-slots lists
    plain_priors = ScorePriors.from_model(fresh, ids, table[1:])
    assert plain_priors.fresh is None
    asked = Retriever(index, priors=plain_priors, score_all_below=score_all_below)
    for row, h in enumerate(hists):
        req = Request(k=8, fresh_share=0.5)
        got = asked.recommend(out.user(row), item_array(h), req)
        assert [g["item"] for g in got] == offline[row].tolist()
    with pytest.raises(ValueError, match="fresh_share"):
        asked.recommend(out.user(0), item_array(hists[0]), Request(k=8, fresh_share=1.0))
