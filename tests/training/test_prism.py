"""The prism recommender end to end on tiny data: learning, round trips, resume, raw histories."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from scipy.special import logsumexp

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import prepare
from prismrec.evaluation.protocol import evaluate
from prismrec.training import BPRMF, PrismRecommender, SASRec, load_model
from prismrec.training.base import item_array
from prismrec.training.prism import TrainStep
from prismrec.training.windows import build_windows

SMALL = ModelConfig(embedding_dim=32, n_layers=1, n_heads=1, dropout=0.0, n_interests=2)
FAST = TrainConfig(epochs=40, batch_size=32, learning_rate=5e-3, patience=40, warmup_ratio=0.0)


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory):
    """Every user walks item i -> i+1 (mod 20): the next item is fully determined."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        start = int(rng.integers(0, 20))
        for t in range(12):
            ev = "click" if t % 3 else "view"
            rows.append((f"u{u}", f"i{(start + t) % 20}", 1_700_000_000 + 3600 * t, ev))
    d = tmp_path_factory.mktemp("chains")
    p = d / "e.csv"
    pl.DataFrame(
        rows, schema=["user_id", "item_id", "timestamp", "event_type"], orient="row"
    ).write_csv(p)
    return prepare(p, d / "prep", "csv")


@pytest.fixture(scope="module")
def trained(chains):
    return PrismRecommender(SMALL, FAST).fit(chains)


def test_planted_sequence_is_learned(trained, chains) -> None:
    vocab = chains.item_vocab
    hist = vocab.lookup(["i3", "i4", "i5"])
    ids, _ = trained.recommend([hist], k=1)
    assert vocab.external(ids[0]) == ["i6"]
    res = evaluate(trained, chains.eval_cases("test"), ks=(1,))
    assert res.metrics["hr@1"] > 0.9  # chance is 1 in 11 unseen items


def test_one_batch_overfit(chains) -> None:
    torch.manual_seed(0)
    m = PrismRecommender(SMALL, FAST)
    m.build_net(chains)
    cols = ("item_idx", *m.feature_sizes)
    w = build_windows(chains.split_frame("valid"), cols, m.seq_len)
    step = TrainStep(m.net, FAST, "hard", cols, {}, torch.ones(chains.n_items + 1))
    opt = torch.optim.Adam(m.net.parameters(), lr=1e-2)
    batch = next(w.batches(8, None))
    first = None
    for _ in range(300):
        loss, stats = step(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else stats["loss"]
    # the next-item loss (the interests' ownership/separation terms have floors of their own)
    assert stats["loss"] < 0.05 < first


def test_checkpoint_round_trip_gives_identical_recommendations(
    trained, chains, tmp_path: Path
) -> None:
    cases = chains.eval_cases("test")
    ids, scores = trained.recommend(cases.inputs(), k=5, users=cases.users)
    trained.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert isinstance(back, PrismRecommender)
    ids2, scores2 = back.recommend(cases.inputs(), k=5, users=cases.users)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(scores, scores2, rtol=1e-5, atol=1e-6)


def test_unknown_user_raw_history_and_interests(trained, chains) -> None:
    hist = chains.item_vocab.lookup(["i10", "i11"])
    ids, _ = trained.recommend([hist], k=3, users=[-1])
    # the chain's continuation leads. Training teaches each position its next five items as a
    # set (future_window), so from two events alone the next three come in some order
    assert set(chains.item_vocab.external(ids[0])) == {"i12", "i13", "i14"}
    ids_empty, s = trained.recommend([np.zeros(0, np.int64)], k=3)
    assert ids_empty.shape == (1, 3) and np.isfinite(s).all()
    inter = trained.interests([hist])
    # two long-term interests, then the short-term one
    assert inter.vectors.shape == (1, 3, 32) and inter.n_long == 2
    np.testing.assert_allclose(inter.weights.sum(-1), 1.0, rtol=1e-5)
    by_user = trained.interests(users=[0])
    assert by_user.vectors.shape == (1, 3, 32)


def test_resume_after_interruption_matches_uninterrupted(
    chains, tmp_path: Path, monkeypatch
) -> None:
    import prismrec.evaluation.protocol as protocol_mod  # what validation calls

    cfg = FAST.model_copy(update={"epochs": 4})
    full = PrismRecommender(SMALL, cfg).fit(chains)
    real_evaluate, calls = protocol_mod.evaluate, {"n": 0}

    def crash_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # after epoch 2's checkpoint, during epoch 3
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(protocol_mod, "evaluate", crash_in_epoch_3)
    part = PrismRecommender(SMALL, cfg, checkpoint_dir=tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        part.fit(chains)
    monkeypatch.setattr(protocol_mod, "evaluate", real_evaluate)
    resumed = PrismRecommender(SMALL, cfg, checkpoint_dir=tmp_path / "ckpt")
    resumed.fit(chains)
    assert [int(h["epoch"]) for h in resumed.history] == [1, 2, 3, 4]
    for (k, a), b in zip(
        full.net.state_dict().items(), resumed.net.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=k)


@pytest.mark.parametrize("loss", ["sampled", "bce"])
def test_other_objectives_learn(chains, loss: str) -> None:
    m = PrismRecommender(SMALL, FAST.model_copy(update={"loss": loss, "n_negatives": 8})).fit(
        chains
    )
    res = evaluate(m, chains.eval_cases("test"), ks=(1,))
    assert res.metrics["hr@1"] > 0.5


def test_sasrec_is_id_only_single_interest(chains) -> None:
    m = SASRec(SMALL, FAST.model_copy(update={"epochs": 30})).fit(chains)
    assert m.net.k == 1 and m.feature_sizes == {} and not m.net.user_features
    assert evaluate(m, chains.eval_cases("test"), ks=(1,)).metrics["hr@1"] > 0.8


def test_bpr_learns_co_preferences(tmp_path: Path) -> None:
    # two user groups with disjoint tastes; a user's held-out item comes from its group
    rows = [(f"u{u}", f"i{(u % 2) * 10 + (u + t) % 10}", t) for u in range(60) for t in range(8)]
    p = tmp_path / "e.csv"
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(p)
    ds = prepare(p, tmp_path / "d", "csv")
    m = BPRMF(ModelConfig(embedding_dim=16), FAST.model_copy(update={"learning_rate": 0.05})).fit(
        ds
    )
    cases = ds.eval_cases("test")
    ids, _ = m.recommend(cases.inputs(), k=2, users=cases.users)  # 3 unseen items per group
    group = [int(u[1:]) % 2 for u in ds.user_vocab.external(cases.users)]
    same = np.mean(
        [
            [int(x[1:]) // 10 == g for x in ds.item_vocab.external(row)]
            for row, g in zip(ids, group, strict=True)
        ]
    )
    assert same > 0.9
    m.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    np.testing.assert_array_equal(back.recommend(cases.inputs(), k=2, users=cases.users)[0], ids)


def test_repeat_bias_learns_no_repeats(chains) -> None:
    # chains never revisit an item within a user's 12 events: history items should sink
    train = FAST.model_copy(update={"epochs": 100, "patience": 100})
    on = PrismRecommender(SMALL.model_copy(update={"cooc_weight": 0.0}), train).fit(chains)
    assert on.net.repeat is not None
    assert on.net.repeat.values()[:4].max() < 0  # distances 0..14 all occur
    no = SMALL.model_copy(update={"cooc_weight": 0.0, "use_repeat": False})
    off = PrismRecommender(no, train).fit(chains)
    cases = chains.eval_cases("test")

    def seen_in_top3(m: PrismRecommender) -> int:
        ids, _ = m.recommend(cases.inputs(), k=3, users=cases.users, filter_seen=False)
        return sum(
            len(set(row) & set(h.tolist())) for row, h in zip(ids, cases.histories, strict=True)
        )

    assert seen_in_top3(on) < seen_in_top3(off)


@pytest.fixture(scope="module")
def repeats(tmp_path_factory: pytest.TempPathFactory):
    """Each user mostly re-consumes three favourite items (of 60), now and then a random one."""
    rng = np.random.default_rng(1)
    rows = []
    for u in range(60):
        fav = rng.choice(60, 3, replace=False)
        for t in range(15):
            it = rng.choice(fav) if rng.random() < 0.8 else int(rng.integers(0, 60))
            rows.append((f"u{u}", f"i{it}", 1_700_000_000 + 3600 * t))
    d = tmp_path_factory.mktemp("repeats")
    p = d / "e.csv"
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(p)
    return prepare(p, d / "prep", "csv")


def test_repeat_bias_learns_repeats(repeats) -> None:
    m = PrismRecommender(SMALL, FAST.model_copy(update={"epochs": 20})).fit(repeats)
    assert m.net.repeat is not None
    assert m.net.repeat.values()[:3].min() > 0
    off = PrismRecommender(
        SMALL.model_copy(update={"use_repeat": False}), FAST.model_copy(update={"epochs": 20})
    ).fit(repeats)
    cases = repeats.eval_cases("test")
    hr = [evaluate(r, cases, ks=(3,), filter_seen=False).metrics["hr@3"] for r in (m, off)]
    assert hr[0] > 0.5 and hr[0] >= hr[1]


def test_interest_quota_serves_valid_lists(trained, chains) -> None:
    cases = chains.eval_cases("test")
    plain = trained.model_config
    try:
        trained.model_config = plain.model_copy(update={"interest_quota": True})
        ids, scores = trained.recommend(cases.inputs(), k=5, users=cases.users)
        one, _ = trained.recommend(cases.inputs()[:1], k=5, users=cases.users[:1])
    finally:
        trained.model_config = plain
    assert all(len(set(row)) == 5 for row in ids) and (ids > 0).all()
    np.testing.assert_array_equal(ids[:1], one)
    assert np.isfinite(scores).all() and (np.diff(scores, axis=1) <= 0).all()


def _z(x: np.ndarray) -> tuple[np.ndarray, float]:
    mu, sd = x[1:].mean(), x[1:].std() + 1e-9
    z = (x - mu) / sd
    z[0] = 0.0
    return z, sd


def test_each_interest_picks_by_its_own_attention_prior(trained, chains) -> None:
    """Interest k's own score: its posterior plus the prior of the window it attends to,
    weighted by ``quota_prior_weight`` (default 4; None: the tuned ``cooc_weight``)."""
    cases = chains.eval_cases("test")
    hist, users = cases.inputs()[:3], cases.users[:3]
    saved = trained.cooc_weight
    try:
        trained.cooc_weight = 1.5
        own = trained.interest_scores(hist, users)
        out = trained.interests(hist, users)
        rep = trained.scorer.repeat_bias(hist, own.shape[2])
    finally:
        trained.cooc_weight = saved
    assert out.attention is not None and rep is not None
    logits = np.einsum("bkd,nd->bkn", out.vectors, trained.item_vectors())
    lse = logsumexp(logits[:, :, 1:], axis=2, keepdims=True)
    post = logits - lse + np.log(out.weights)[:, :, None]
    sim = trained.cooc.similarity.toarray()
    B, K, n = post.shape
    S = out.attention.shape[2]
    assert own.shape == (3, 3, n)  # two long-term interests and the short-term one
    for b in range(B):
        seq = item_array(hist[b])[-S:]
        window = np.concatenate([np.zeros(S - len(seq), np.int64), seq])  # left-padded
        for k in range(K):
            att = out.attention[b, k] / out.attention[b, k].sum()
            prior = (att[:, None] * sim[window]).sum(0)  # by hand, position by position
            z, sd = _z(post[b, k])
            want = z + 4.0 * _z(np.log(prior + 1e-4))[0] + rep[b] / sd + trained.popularity
            np.testing.assert_allclose(own[b, k], want, rtol=1e-4, atol=1e-4)
    # two interests that attend differently get different priors, so different picks
    assert not np.allclose(own[:, 0], own[:, 1])
    plain = trained.model_config
    try:
        trained.model_config = plain.model_copy(update={"quota_prior_weight": None})
        trained.cooc_weight = 1.5
        assert trained.scorer.own_weight == 1.5
    finally:
        trained.model_config, trained.cooc_weight = plain, saved


def _overlap_after(chains, diversity: float, groups: torch.Tensor) -> float:
    torch.manual_seed(0)
    m = PrismRecommender(SMALL.model_copy(update={"n_interests": 3}), FAST)
    m.build_net(chains)
    cols = ("item_idx", *m.feature_sizes)
    w = build_windows(chains.split_frame("valid"), cols, m.seq_len)
    freq = torch.ones(chains.n_items + 1)
    step = TrainStep(m.net, FAST, "mixture", cols, {}, freq, diversity, groups)
    opt = torch.optim.Adam(m.net.parameters(), lr=1e-2)
    batch = next(w.batches(16, None))
    for _ in range(60):
        loss, stats = step(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe = TrainStep(m.net, FAST, "mixture", cols, {}, freq, 1.0, groups)
    torch.manual_seed(1)
    return probe(batch)[1]["overlap"]


def test_interest_diversity_pulls_the_interests_apart(chains) -> None:
    # two made-up categories: the first half of the catalogue and the second
    n = chains.n_items + 1
    groups = torch.zeros(n, 2)
    groups[1 : n // 2, 0] = 1.0
    groups[n // 2 :, 1] = 1.0
    plain = _overlap_after(chains, 0.0, groups)
    apart = _overlap_after(chains, 2.0, groups)
    assert apart < plain - 0.1


def test_category_groups_spread_each_item_over_its_genres(ml100k_recbole_prepared) -> None:
    from prismrec.training.prism import category_groups

    g = category_groups(ml100k_recbole_prepared)
    assert g is not None and g.shape[0] == ml100k_recbole_prepared.n_items + 1
    sums = g.sum(1)
    assert float(sums[0]) == 0.0  # padding row
    assert torch.allclose(sums[1:][sums[1:] > 0], torch.ones(1))  # one unit per item
    assert float((sums[1:] > 0).float().mean()) > 0.99  # ml-100k films all have genres
    assert 15 <= g.shape[1] <= 19


def test_hub_correction_centres_the_long_term_interests(chains, tmp_path: Path) -> None:
    cfg = SMALL.model_copy(
        update={"hub_correction": 1.0, "future_window": 3, "long_term_norm": False}
    )
    rec = PrismRecommender(cfg, FAST.model_copy(update={"epochs": 2}))
    rec.fit(chains)
    share = rec.net.event_share
    assert share is not None and abs(float(share.sum()) - 1.0) < 1e-5
    # items never in training carry no share; every training item some
    counts = np.bincount(
        chains.split_frame("test").get_column("item_idx").to_numpy(), minlength=chains.n_items + 1
    )
    np.testing.assert_array_equal(share.numpy() > 0, counts > 0)
    hist = chains.item_vocab.lookup(["i3", "i4", "i5", "i6"])
    got = rec.interests([hist]).vectors[0, :2]
    # the same net without the correction: each long-term interest moves by the full centre
    routed = rec.net.routed
    assert routed is not None
    routed.hub = 0.0
    plain = rec.interests([hist]).vectors[0, :2]
    routed.hub = 1.0
    with torch.no_grad():
        centre = routed.value((share @ rec.net.item_table())[None])[0].numpy()
    np.testing.assert_allclose(plain - got, np.broadcast_to(centre, got.shape), atol=1e-5)
    rec.save(tmp_path / "hub")
    back = load_model(tmp_path / "hub")
    np.testing.assert_allclose(back.interests([hist]).vectors, rec.interests([hist]).vectors)


def test_long_term_norm_gives_each_interest_its_learned_length(chains) -> None:
    cfg = SMALL.model_copy(update={"long_term_norm": True})
    rec = PrismRecommender(cfg, FAST.model_copy(update={"epochs": 2})).fit(chains)
    routed = rec.net.routed
    assert routed is not None and routed.log_norm is not None
    hist = chains.item_vocab.lookup(["i3", "i4", "i5", "i6", "i7", "i8"])
    vecs = rec.interests([hist]).vectors[0]
    lengths = routed.log_norm.detach().exp().numpy()
    # the long-term rows have exactly the learned lengths; the short-term row is the state
    np.testing.assert_allclose(np.linalg.norm(vecs[:2], axis=-1), lengths, rtol=1e-4)
    # trained: the lengths moved from their start (sqrt(D)) and stay far above a centroid of
    # raw item vectors, so the long-term rows' softmaxes are not flat
    assert not np.allclose(lengths, np.sqrt(32.0))
    assert (lengths > 1.0).all()


@contextmanager
def _with_prior_and_merge(m, chains, merge: str):
    """The trained model with a co-occurrence prior and ``merge``; everything restored after
    (the prior, its weight, the config and the short-term gate)."""
    from prismrec.training.baselines import ItemKNN

    gate = m.net.routed
    old = (m.cooc, m.cooc_weight, m.model_config, gate.now_bias.detach().clone())
    try:
        if m.cooc is None:
            m.cooc = ItemKNN(m.model_config, m.train_config)
            m.cooc.fit_similarity(chains, "valid")
        m.model_config = m.model_config.model_copy(update={"merge": merge})
        yield old[3]
    finally:
        m.cooc, m.cooc_weight, m.model_config = old[:3]
        with torch.no_grad():
            gate.now_bias.copy_(old[3])


@pytest.mark.parametrize("merge", ["mixture", "quota"])
def test_prior_weight_choice_equals_evaluate_at_each_weight(trained, chains, merge) -> None:
    """One inference pass scores every candidate weight: the same NDCG@10 as ``evaluate``
    with ``cooc_weight`` set to that weight (the full path, one pass per weight)."""
    from prismrec.training.prism import PRIOR_WEIGHTS

    m = trained
    with _with_prior_and_merge(m, chains, merge):
        cases = chains.eval_cases("valid")
        m.cooc_weight = 0.5
        fast = m.prior_weight_ndcg(cases, PRIOR_WEIGHTS)
        assert m.cooc_weight == 0.5  # the weight in use stays as it was
        for w, got in zip(PRIOR_WEIGHTS, fast, strict=True):
            m.cooc_weight = w
            want = evaluate(m, cases, ks=(10,), metrics=("ndcg",)).metrics["ndcg@10"]
            assert got == pytest.approx(want, abs=1e-9), (merge, w)


@pytest.mark.parametrize("merge", ["mixture", "quota"])
def test_gate_shift_choice_equals_evaluate_with_the_shifted_gate(trained, chains, merge) -> None:
    """Each (gate shift, prior weight) option of ``choice_ndcg`` scores what ``evaluate``
    measures with the short-term row's ``now_bias`` raised by the shift, user by user; the
    gate is left as it was."""
    from prismrec.training.prism import NOW_SHIFTS

    m = trained
    gate = m.net.routed
    assert gate is not None and gate.short_term
    with _with_prior_and_merge(m, chains, merge) as bias:
        cases = chains.eval_cases("valid")
        options = [(s, w) for s in NOW_SHIFTS for w in (0.0, 1.0)]
        fast = m.choice_ndcg(cases, options)
        assert torch.equal(gate.now_bias, bias)
        for j, (shift, w) in enumerate(options):
            m.cooc_weight = w
            with torch.no_grad():
                gate.now_bias.copy_(bias + shift)
            res = evaluate(m, cases, ks=(10,), metrics=("ndcg",))
            np.testing.assert_allclose(fast[:, j], res.per_user["ndcg@10"], atol=1e-9)


@pytest.mark.parametrize(
    ("gain", "noise", "taken"), [(0.0, 0.0, 0.0), (0.05, 0.01, 2.0), (0.002, 0.2, 0.0)]
)
def test_the_gate_shift_is_taken_only_beyond_the_noise(
    trained, chains, monkeypatch, gain: float, noise: float, taken: float
) -> None:
    """``calibrate_gate`` adds the best shift to ``now_bias`` (so every reader of the weights
    sees it) only when its mean gain over none is above ``SHIFT_SE`` standard errors of the
    per-user difference: a clear gain (0.05 +- 0.01 per user) is taken, one of 0.002 inside
    per-user noise of 0.2 is not."""
    from prismrec.training.prism import NOW_SHIFTS

    m = trained
    gate = m.net.routed
    assert gate is not None
    before = gate.now_bias.detach().clone()
    rng = np.random.default_rng(0)

    def designed(cases, options, filter_seen=True):  # shift 2 gains, the others lose
        base = rng.random(2000) * 0.3
        cols = [base - 0.01 for _ in options]
        cols[NOW_SHIFTS.index(0.0)] = base
        cols[NOW_SHIFTS.index(2.0)] = base + gain + rng.normal(0.0, noise, base.shape)
        return np.stack(cols, 1)

    monkeypatch.setattr(m, "choice_ndcg", designed)
    try:
        m.calibrate_gate(chains.eval_cases("valid"))
        assert m.gate_shift == taken
        assert torch.allclose(gate.now_bias, before + taken)
    finally:
        with torch.no_grad():
            gate.now_bias.copy_(before)
        m.gate_shift = 0.0


def _one_step(m: PrismRecommender, chains, cfg: ModelConfig) -> tuple[torch.Tensor, dict]:
    """One training step of ``m`` on a batch of the valid windows, gradients computed."""
    step_batch = next(
        build_windows(
            chains.split_frame("valid"), ("item_idx", *m.feature_sizes), m.seq_len, None, 5
        ).batches(8, None)
    )
    freq = torch.ones(chains.n_items + 1) / chains.n_items
    step = TrainStep(m.net, m.train_config, "mixture", ("item_idx", *m.feature_sizes), {}, freq,
                     net_config=cfg)  # fmt: skip
    m.net.train()
    loss, stats = step(step_batch)
    loss.backward()
    return loss, stats


def test_interests_at_a_share_of_the_positions_still_learn(chains) -> None:
    """``interest_positions`` < 1 routes the interests at a share of each window's positions
    (the short-term row learns at all of them): the planted chain is still learned, and the
    long-term interests get gradients."""
    cfg = SMALL.model_copy(update={"interest_positions": 0.3})
    m = PrismRecommender(cfg, FAST)
    m.fit(chains)
    res = evaluate(m, chains.eval_cases("test"), ks=(1,))
    assert res.metrics["hr@1"] > 0.9
    loss, stats = _one_step(m, chains, cfg)
    assert torch.isfinite(loss) and "long_term" in stats and "short_term" in stats
    assert m.net.routed is not None and m.net.routed.prototypes.grad is not None


def test_dynamic_interests_learn_and_give_a_light_history_fewer(chains, tmp_path: Path) -> None:
    """``dynamic_interests``: the planted chain is still learned; a history of 3 events has one
    long-term interest, one of 12 has three (of K = 4); the rest weigh 0 and are zero vectors;
    the setting survives a save and load."""
    cfg = SMALL.model_copy(update={"n_interests": 4, "dynamic_interests": True})
    m = PrismRecommender(cfg, FAST.model_copy(update={"epochs": 15}))
    m.fit(chains)
    res = evaluate(m, chains.eval_cases("test"), ks=(1,))
    assert res.metrics["hr@1"] > 0.9
    got = m.interests([np.arange(1, 4), np.arange(1, 13)])
    long = got.weights[:, :4]
    assert (long > 0).sum(1).tolist() == [1, 3]
    assert np.abs(got.vectors[:, :4][long == 0]).sum() == 0.0
    np.testing.assert_allclose(got.weights.sum(1), 1.0, atol=1e-5)
    # an interest the user does not have owns no item (its flat scores would own the rest)
    own = m.interest_scores([np.arange(1, 4), np.arange(1, 13)])
    assert np.isneginf(own[:, :4][long == 0]).all()
    assert np.isfinite(own[:, :4][long > 0][:, 1:]).all()
    m.save(tmp_path / "dyn")
    back = load_model(tmp_path / "dyn")
    again = back.interests([np.arange(1, 4), np.arange(1, 13)])
    np.testing.assert_allclose(again.weights, got.weights, atol=1e-6)


def test_interests_on_fixed_items_still_learn(chains) -> None:
    """``long_term_fixed_items``: the item vectors and the transformer learn the short-term
    row's task alone; the planted chain is still learned and the interests get gradients."""
    cfg = SMALL.model_copy(update={"long_term_fixed_items": True})
    m = PrismRecommender(cfg, FAST.model_copy(update={"epochs": 20}))
    m.fit(chains)
    assert evaluate(m, chains.eval_cases("test"), ks=(1,)).metrics["hr@1"] > 0.9
    loss, stats = _one_step(m, chains, cfg)
    assert torch.isfinite(loss) and "long_term" in stats
    assert m.net.routed is not None and m.net.routed.prototypes.grad is not None
