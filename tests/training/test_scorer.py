"""The scorer's prior rule on hand-computed cases."""

from __future__ import annotations

import numpy as np

from prismrec.config import ModelConfig, TrainConfig
from prismrec.training.baselines import ItemKNN
from prismrec.training.scorer import PRIOR_FLOOR, Scorer, neutral_unseen, standardise


def test_neutral_unseen_zeroes_only_items_the_prior_never_saw() -> None:
    z = np.array([[1.0, -2.0, 3.0, -4.0, 5.0]])
    seen = np.array([False, True, False, True])  # item 4 is past the prior's table
    out = neutral_unseen(z, np.arange(5), seen)
    np.testing.assert_array_equal(out, [[0.0, -2.0, 0.0, -4.0, 0.0]])
    picked = neutral_unseen(z[:, [3, 1]], np.array([3, 2]), seen)
    np.testing.assert_array_equal(picked, [[-4.0, 0.0]])
    assert z[0, 2] == 3.0  # the input is not changed


def _knn(popularity: np.ndarray) -> ItemKNN:
    knn = ItemKNN(ModelConfig(), TrainConfig())
    knn.popularity = popularity.astype(np.float32)
    return knn


def test_an_unseen_item_gets_the_mean_prior_not_the_floor() -> None:
    """Items 1-2 co-occur (prior 0.5 and 0), item 3 has no training event: z 0, not the floor's."""
    pop = np.array([0.0, 1e-6, 1e-6, 0.0])
    scorer = Scorer(np.zeros(4), cooc=_knn(pop), cooc_weight=2.0)
    net = np.array([[0.0, 1.0, 2.0, 3.0]])
    prior = np.array([[0.0, 0.5, 0.0, 0.0]])
    got = scorer.with_priors(net, prior, None, 2.0)
    z_net = (net[0, 1:] - 2.0) / np.std([1.0, 2.0, 3.0])
    logp = np.log(prior[0, 1:] + PRIOR_FLOOR)
    z_prior = (logp - logp.mean()) / logp.std()
    want = z_net + 2.0 * np.array([z_prior[0], z_prior[1], 0.0])
    np.testing.assert_allclose(got[0, 1:], want, rtol=1e-6)
    # seen, item 3 would carry the floor's penalty like item 2
    seen_all = Scorer(np.zeros(4), cooc=_knn(np.full(4, 1e-6)), cooc_weight=2.0)
    floor = seen_all.with_priors(net, prior, None, 2.0)
    assert floor[0, 3] < 0.0 < got[0, 3]
    assert np.isclose(floor[0, 3] - floor[0, 2], z_net[2] - z_net[1])
    np.testing.assert_allclose(standardise(net)[0][0, 1:], z_net, rtol=1e-6)
