"""Interest quotas over dense scores: slot counts, ownership, shortage fill, filtered items."""

from __future__ import annotations

import numpy as np

from prismrec.training.base import _topk
from prismrec.training.quota import quota_rerank, slot_quotas


def test_slot_quotas_largest_remainder() -> None:
    q = slot_quotas(np.array([[0.5, 0.25, 0.25], [0.9, 0.1, 0.0]]), 4)
    assert q.tolist() == [[2, 1, 1], [4, 0, 0]]
    assert slot_quotas(np.array([[0.9, 0.1]]), 3).tolist() == [[3, 0]]


def _setup() -> tuple[np.ndarray, np.ndarray]:
    # items 1-3 belong to interest 0 and score highest; items 4-5 to interest 1
    scores = np.array([[0.0, 9.0, 8.0, 7.0, 3.0, 2.0]])
    owner = np.zeros((1, 2, 6))
    owner[0, 0, 1:4] = 1.0
    owner[0, 1, 4:6] = 1.0
    return scores, owner


def test_each_interest_gets_its_share_in_score_order() -> None:
    scores, owner = _setup()
    ids, _ = _topk(quota_rerank(scores, owner, np.array([[0.5, 0.5]]), 4), 4)
    assert ids[0].tolist() == [1, 2, 4, 5]
    ids, _ = _topk(quota_rerank(scores, owner, np.array([[1.0, 0.0]]), 3), 3)
    assert ids[0].tolist() == [1, 2, 3]  # a weight-1 interest: the plain top list


def test_short_interest_and_filtered_items() -> None:
    scores, owner = _setup()
    scores[0, 5] = -np.inf  # filtered (e.g. seen)
    out = quota_rerank(scores, owner, np.array([[0.25, 0.75]]), 4)
    ids, _ = _topk(out, 4)
    # interest 1 wants 3 slots but has one live item: its spare slots go to the best others
    assert ids[0].tolist() == [1, 2, 3, 4]
    assert np.isneginf(out[0, 5])
