"""Multi-interest merge: weight quotas, the likeliest interest owns an item, focus and mute."""

from __future__ import annotations

import numpy as np
import pytest

from prismrec.retrieval import ExactIndex, quota_counts, retrieve, steer_weights

# items 1..20 lie along e0 (scores 20..1 for interest 0), items 21..40 along e1
E = np.eye(4, dtype=np.float32)
INTERESTS = E[:2].copy()


def _index() -> ExactIndex:
    idx = ExactIndex(4)
    ramp = np.arange(20, 0, -1, dtype=np.float32)[:, None]
    idx.add(np.arange(1, 21), ramp * E[0] + 0.01 * E[2])
    idx.add(np.arange(21, 41), ramp * E[1] + 0.01 * E[3])
    return idx


def _counts(items: np.ndarray) -> tuple[int, int]:
    return int((items <= 20).sum()), int((items > 20).sum())


def test_quotas_follow_the_weights() -> None:
    got = retrieve(_index(), INTERESTS, np.array([0.75, 0.25]), 8)
    assert _counts(got.items) == (6, 2)
    assert sorted(got.items.tolist()) == [1, 2, 3, 4, 5, 6, 21, 22]  # each interest's best
    assert (got.interests == (got.items > 20)).all()
    assert (np.diff(got.scores) <= 0).all()  # merged best first


def test_largest_remainder_and_redistribution() -> None:
    assert quota_counts(np.array([0.5, 0.3, 0.2]), 7).tolist() == [4, 2, 1]  # 3.5, 2.1, 1.4
    assert quota_counts(np.array([1 / 3] * 3), 10).tolist() == [4, 3, 3]  # ties: lower index
    # interest 0 has only 2 candidates: its other slots go to the rest by weight
    assert quota_counts(np.array([0.6, 0.2, 0.2]), 10, np.array([2, 50, 50])).tolist() == [2, 4, 4]
    assert quota_counts(np.array([0.5, 0.5]), 10, np.array([3, 4])).tolist() == [3, 4]


def test_an_item_found_by_two_interests_keeps_the_best() -> None:
    idx = _index()
    idx.add(np.array([99]), np.array([[30.0, 25.0, 0, 0]], np.float32))  # both find it
    got = retrieve(idx, INTERESTS, np.array([0.5, 0.5]), 8)
    assert (got.items == 99).sum() == 1
    assert got.interests[got.items == 99][0] == 0  # 30 (interest 0) beats 25 (interest 1)
    assert _counts(got.items[got.items != 99]) == (3, 4)


def test_a_long_interest_vector_does_not_own_what_another_prefers() -> None:
    # interest 0 is 20x longer: it scores item 99 at 30 (its 20th best), interest 1 at 25 (its
    # best); by raw score 0 would own it (and leave it out), by likelihood 1 owns it
    idx = _index()
    idx.add(np.array([99]), np.array([[1.5, 25.0, 0, 0]], np.float32))
    vecs = np.stack([20 * E[0], E[1]])
    got = retrieve(idx, vecs, np.array([0.5, 0.5]), 8, candidates_per_interest=30)
    assert got.interests[got.items == 99][0] == 1
    assert (np.diff(got.scores[got.interests == 1]) <= 0).all()


def test_focus_and_mute_move_the_list_the_expected_way() -> None:
    idx, w = _index(), np.array([0.5, 0.5])
    assert _counts(retrieve(idx, INTERESTS, w, 8).items) == (4, 4)
    assert _counts(retrieve(idx, INTERESTS, w, 8, focus=1).items) == (2, 6)
    assert _counts(retrieve(idx, INTERESTS, w, 8, focus=0, focus_boost=100).items) == (8, 0)
    muted = retrieve(idx, INTERESTS, w, 8, mute=0)
    assert _counts(muted.items) == (0, 8) and (muted.interests == 1).all()


def test_mute_drops_what_the_muted_interest_would_claim() -> None:
    idx = _index()
    # item 77 leans to interest 0 yet scores well for interest 1 too
    idx.add(np.array([77]), np.array([[40.0, 19.5, 0, 0]], np.float32))
    plain = retrieve(idx, INTERESTS, np.array([0.5, 0.5]), 8)
    assert 77 in plain.items
    assert 77 not in retrieve(idx, INTERESTS, np.array([0.5, 0.5]), 8, mute=0).items


def test_exclude_and_steering_errors() -> None:
    got = retrieve(_index(), INTERESTS, np.array([0.75, 0.25]), 4, exclude_ids={1, 2, 21})
    assert not np.isin(got.items, [1, 2, 21]).any() and len(got) == 4
    assert steer_weights(np.array([0.25] * 4), focus=2).tolist() == pytest.approx(
        [1 / 7, 1 / 7, 4 / 7, 1 / 7]
    )
    assert steer_weights(np.array([1.0, 0.0]), focus=1)[1] > 0.5  # a zero-weight interest too
    with pytest.raises(ValueError, match="0..1"):
        steer_weights(np.array([0.5, 0.5]), focus=2)
    with pytest.raises(ValueError, match="both focused and muted"):
        steer_weights(np.array([0.5, 0.5]), focus=1, mute=1)
    with pytest.raises(ValueError, match="every interest is muted"):
        steer_weights(np.array([0.5, 0.5]), mute=[0, 1])
