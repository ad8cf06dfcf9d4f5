"""Log-space sums: the torch path for whole catalogues and the numpy one for a request's
candidates give scipy's answer, ``-inf`` entries included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from prismrec.training.logspace import LARGE_LSE, log_sum_exp, log_weights
from prismrec.training.scorer import mixture_log_prob


@pytest.mark.parametrize("n", [50, LARGE_LSE // 4 + 1])  # numpy below LARGE_LSE, torch above
def test_log_sum_exp_matches_scipy_with_masked_entries(n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 4.0, (5, 4, n)).astype(np.float32)
    x[0, 1, :] = -np.inf  # a fully masked row stays -inf
    x[1, :, ::3] = -np.inf  # masked items drop out of the sum
    with np.errstate(divide="ignore"):
        got = log_sum_exp(x, axis=2)
    want = logsumexp(x.astype(np.float64), axis=2)
    assert got.dtype == np.float32
    assert got[0, 1] == -np.inf
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6, atol=1e-5)


def test_mixture_log_prob_is_the_mixture_of_softmaxes() -> None:
    """Against the definition log sum_k w_k softmax_k, computed in float64 on a whole
    catalogue (torch path): float32 keeps it to 1e-5, and a zero weight drops its row."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 3.0, (8, 3, 50_000)).astype(np.float32)
    w = rng.dirichlet(np.ones(3), 8).astype(np.float32)
    w[0] = [0.0, 0.3, 0.7]
    lse = log_sum_exp(logits, axis=2)
    got = mixture_log_prob(logits, w, lse)
    soft = np.exp(logits - logsumexp(logits.astype(np.float64), axis=2, keepdims=True))
    want = np.log((w.astype(np.float64)[:, :, None] * soft).sum(1))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert log_weights(np.array([0.0]))[0] == pytest.approx(np.log(1e-12))
