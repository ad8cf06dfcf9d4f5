"""Bootstrap intervals and paired tests on simulated per-user metrics with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from prismrec.evaluation.significance import (
    align_users,
    bootstrap_ci,
    bootstrap_cis,
    compare_runs,
    paired_compare,
)


def test_bootstrap_ci_contains_the_true_mean() -> None:
    rng = np.random.default_rng(11)
    x = rng.binomial(1, 0.3, size=500).astype(float)  # a hit-rate-like per-user metric
    lo, hi = bootstrap_ci(x, n_boot=1000, seed=0)
    assert lo < 0.3 < hi
    assert lo < x.mean() < hi
    assert 0.05 < hi - lo < 0.12  # about 2 * 1.96 * sqrt(0.21 / 500) = 0.08


def test_bootstrap_ci_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(12)
    covered = 0
    for rep in range(60):
        x = rng.exponential(0.2, size=300)  # skewed, like NDCG; true mean 0.2
        lo, hi = bootstrap_ci(x, n_boot=400, seed=rep)
        covered += lo <= 0.2 <= hi
    assert covered / 60 >= 0.85


def test_bootstrap_cis_are_seeded_and_nan_aware() -> None:
    x = {"a": np.arange(10.0), "b": np.r_[np.full(5, np.nan), np.ones(5)]}
    assert bootstrap_cis(x, 200, seed=3) == bootstrap_cis(x, 200, seed=3)
    assert bootstrap_cis(x, 200, seed=3)["b"] == (1.0, 1.0)
    assert bootstrap_cis({}, 10) == {}


def test_paired_compare_finds_a_real_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(13)
    a = rng.normal(0.3, 0.2, size=400)
    b = a + 0.02 + rng.normal(0, 0.05, size=400)  # B better by 0.02
    r = paired_compare(a, b, "ndcg@10", n_boot=1000, seed=0)
    assert r.diff == pytest.approx(b.mean() - a.mean())
    assert r.ci_low < 0.02 < r.ci_high and r.ci_low > 0
    assert r.p_ttest < 1e-6 and r.p_permutation < 0.01
    null = paired_compare(a, a + rng.normal(0, 0.05, size=400), n_boot=1000, seed=0)
    assert null.ci_low < 0 < null.ci_high and null.p_ttest > 0.01 and null.p_permutation > 0.01
    same = paired_compare(a, a, n_boot=100)
    assert same.diff == 0 and same.p_ttest == 1.0 and same.p_permutation == 1.0


def test_paired_compare_drops_nan_pairs_and_checks_lengths() -> None:
    r = paired_compare(np.array([1.0, np.nan, 0.0]), np.array([1.0, 1.0, 1.0]), n_boot=100)
    assert r.n_users == 2 and r.mean_a == 0.5 and r.diff == 0.5
    with pytest.raises(ValueError, match="differ in length"):
        paired_compare(np.ones(2), np.ones(3))


def test_compare_runs_matches_users_by_id() -> None:
    ids_a, ids_b = ["u1", "u2", "u3"], ["u3", "u9", "u1"]
    assert [x.tolist() for x in align_users(ids_a, ids_b)] == [[0, 2], [2, 0]]
    pa = {"ndcg@10": np.array([0.1, 0.5, 0.3])}
    pb = {"ndcg@10": np.array([0.4, 9.0, 0.2])}
    (r,) = compare_runs(ids_a, pa, ids_b, pb, ["ndcg@10"], n_boot=100)
    assert r.n_users == 2 and r.mean_a == pytest.approx(0.2) and r.mean_b == pytest.approx(0.3)
    with pytest.raises(KeyError, match="no per-user"):
        compare_runs(ids_a, pa, ids_b, pb, ["mrr@10"])
    with pytest.raises(ValueError, match="share no user"):
        compare_runs(["x"], pa, ["y"], pb, ["ndcg@10"])
