"""Multi-interest retrieval: the likeliest interest owns an item, focus and mute, quota merge,
the user's kept context."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from prismrec.models.interests import Interests
from prismrec.retrieval import (
    ContextBudget,
    ExactIndex,
    Request,
    Retriever,
    UserContext,
    gather,
    steer_weights,
)
from prismrec.retrieval.context import nbytes
from prismrec.training.scorer import QuotaRule

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


def _served(
    idx: ExactIndex, vecs: np.ndarray, w: np.ndarray, k: int, quota=None, **options
) -> tuple[np.ndarray, np.ndarray]:
    retriever = Retriever(idx, score_all_below=options.pop("score_all_below", 20_000))
    retriever.priors.quota = quota
    out = retriever.recommend(Interests(vecs, np.asarray(w)), [], Request(k=k, **options))
    return np.array([o["item"] for o in out]), np.array([o["interest"] for o in out])


def test_vectors_alone_rank_by_the_mixture_and_quotas_follow_the_weights() -> None:
    """Without quotas the list is the mixture's top-k: the heavier interest's items lead. With
    the scorer's quota rule each interest drafts floor(w * k) of its own best first."""
    items, owners = _served(_index(), INTERESTS, np.array([0.75, 0.25]), 8)
    assert (owners == (items > 20)).all() and items[0] == 1
    quota = QuotaRule(n_long=2, short_share=0.0, depth=None)
    items, owners = _served(_index(), INTERESTS, np.array([0.75, 0.25]), 8, quota)
    assert _counts(items) == (6, 2)
    assert sorted(items.tolist()) == [1, 2, 3, 4, 5, 6, 21, 22]  # each interest's best


@pytest.mark.parametrize("score_all_below", [0, 20_000])
def test_an_item_found_by_two_interests_has_one_owner(score_all_below: int) -> None:
    idx = _index()
    idx.add(np.array([99]), np.array([[30.0, 25.0, 0, 0]], np.float32))  # both find it
    items, owners = _served(
        idx, INTERESTS, np.array([0.5, 0.5]), 8, score_all_below=score_all_below
    )
    assert (items == 99).sum() == 1 and owners[items == 99][0] == 0  # 30 beats 25


def test_a_long_interest_vector_does_not_own_what_another_prefers() -> None:
    # interest 0 is 20x longer: it scores item 99 at 30 (its 20th best), interest 1 at 25 (its
    # best); by raw score 0 would own it, by likelihood 1 owns it
    idx = _index()
    idx.add(np.array([99]), np.array([[1.5, 25.0, 0, 0]], np.float32))
    vecs = np.stack([20 * E[0], E[1]])
    got = gather(idx, vecs, 30, weights=np.array([0.5, 0.5]))
    assert got.interests[got.items == 99][0] == 1
    items, owners = _served(idx, vecs, np.array([0.5, 0.5]), 8)
    assert owners[items == 99][0] == 1


def test_focus_and_mute_move_the_list_the_expected_way() -> None:
    idx, w = _index(), np.array([0.5, 0.5])
    even = _counts(_served(idx, INTERESTS, w, 8)[0])
    assert even == (4, 4)
    assert _counts(_served(idx, INTERESTS, w, 8, focus=1)[0])[1] > 4
    assert _counts(_served(idx, INTERESTS, w, 8, focus=0)[0])[0] > 4
    items, owners = _served(idx, INTERESTS, w, 8, mute=0)
    assert _counts(items) == (0, 8) and (owners == 1).all()


def test_mute_drops_what_the_muted_interest_would_claim() -> None:
    idx = _index()
    # item 77 leans to interest 0 yet scores well for interest 1 too
    idx.add(np.array([77]), np.array([[40.0, 19.5, 0, 0]], np.float32))
    plain, _ = _served(idx, INTERESTS, np.array([0.5, 0.5]), 8)
    assert 77 in plain
    assert 77 not in _served(idx, INTERESTS, np.array([0.5, 0.5]), 8, mute=0)[0]


def test_exclude_and_steering_errors() -> None:
    got = gather(_index(), INTERESTS, 4, exclude_ids={1, 2, 21})
    assert not np.isin(got.items, [1, 2, 21]).any() and len(got) == 8
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


@pytest.mark.parametrize("score_all_below", [0, 20_000])
def test_an_interest_the_user_does_not_have_owns_nothing(score_all_below: int) -> None:
    """Dynamic K: a row of weight 0 (a zero vector) is not one of the user's interests: it
    finds and owns nothing, and focusing it is an error; muting the others leaves none."""
    vecs = np.vstack([INTERESTS, np.zeros((1, 4), np.float32)])
    w = np.array([0.6, 0.4, 0.0])
    items, owners = _served(_index(), vecs, w, 8, score_all_below=score_all_below)
    assert len(items) == 8 and 2 not in owners
    assert _counts(items) == _counts(_served(_index(), INTERESTS, w[:2], 8)[0])
    with pytest.raises(ValueError, match="not among this user's interests"):
        _served(_index(), vecs, w, 8, focus=2)
    with pytest.raises(ValueError, match="every interest is muted"):
        _served(_index(), vecs, w, 8, mute=[0, 1])


def _items(out: list[dict]) -> list[int]:
    return [o["item"] for o in out]


@pytest.mark.parametrize("score_all_below", [0, 20_000])
def test_a_kept_context_serves_the_same_lists_until_an_item_changes(score_all_below: int) -> None:
    """Searched (0) and exhaustive (20k) paths: with a context the first and repeat requests
    equal the request without one, whatever the options; a new item reaches the next list."""
    idx = _index()
    retriever = Retriever(idx, score_all_below=score_all_below)
    user = Interests(E[:2].copy(), np.array([0.6, 0.4]))
    history = [1, 21, 3]
    context = UserContext()
    for request in [Request(k=5), Request(k=5), Request(k=8, focus=1), Request(k=5, mute=0)]:
        want = retriever.recommend(user, history, request)
        assert retriever.recommend(user, history, request, context=context) == want
    assert len(context) > 0
    kept = len(context)
    for request in [Request(k=5), Request(k=5, mute=0)]:  # repeats reuse, adding nothing
        assert retriever.recommend(user, history, request, context=context)
    assert len(context) == kept
    idx.add(np.array([99]), np.array([[40.0, 40.0, 0, 0]], np.float32))
    got = retriever.recommend(user, history, Request(k=5), context=context)
    assert _items(got)[0] == 99
    assert got == retriever.recommend(user, history, Request(k=5))


def test_a_context_keeps_at_most_its_bound_and_counts_each_entry_once() -> None:
    context = UserContext(max_entries=2)
    calls: list[int] = []
    for key in [1, 1, 2, 3, 3]:
        assert context.get("v", key, lambda key=key: calls.append(key) or key * 10) == key * 10
    assert calls == [1, 2, 3] and len(context) == 2
    assert context.get("v2", 3, lambda: 0) == 0  # a new catalogue version starts afresh


def test_a_budget_counts_what_contexts_keep_and_release() -> None:
    budget = ContextBudget(limit=1000)
    a, b = UserContext(max_entries=2, budget=budget), UserContext(budget=budget)
    a.get("v", 1, lambda: np.zeros(100))  # 800 bytes
    b.get("v", 1, lambda: (np.zeros(10, np.int32), np.zeros(10)))  # 40 + 80
    assert budget.used == 920 and not budget.over and a.nbytes == 800
    a.get("v", 2, lambda: np.zeros(20))
    assert budget.used == 1080 and budget.over
    a.get("v", 3, lambda: np.zeros(5))  # the oldest entry (800) leaves
    assert budget.used == 320 and len(a) == 2
    a.get("v2", 1, lambda: np.zeros(1))  # a new version releases the rest
    assert budget.used == 128 and a.nbytes == 8
    a.clear()
    b.clear()
    assert budget.used == 0 and len(a) == len(b) == 0
    # a retired context (a request may still hold it) computes but keeps nothing
    assert a.get("v2", 9, lambda: np.zeros(50)).shape == (50,)
    assert budget.used == 0 and len(a) == 0
    # ... even when its computation reads another entry (as a scored entry reads the search)
    got: list[int] = []
    nested = threading.Thread(
        target=lambda: got.append(a.get("v2", 10, lambda: a.get("v2", 11, lambda: 1) + 1)),
        daemon=True,  # a deadlock fails the test instead of hanging the run
    )
    nested.start()
    nested.join(timeout=10)
    assert got == [2], "a retired context deadlocked on a nested entry"


def test_nbytes_counts_nested_arrays_and_stops_at_cycles() -> None:
    class Node:
        pass

    node = Node()
    node.values = (np.zeros(4), [np.zeros(2, np.int32)])  # type: ignore[attr-defined]
    node.me = node  # type: ignore[attr-defined]
    assert nbytes(node) == 40  # each array once; the cycle adds nothing
    shared = np.zeros(10)
    assert nbytes((shared, shared)) == 80
