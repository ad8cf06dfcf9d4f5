"""Explanations and the full per-user pipeline on a tiny planted catalogue."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from prismrec.evaluation.interests import LEAD_SHARE
from prismrec.models.interests import Interests
from prismrec.retrieval import (
    ExactIndex,
    ItemMetadata,
    Request,
    Retriever,
    label_from_items,
    label_interests,
    top_events,
)
from prismrec.training.scorer import Scorer

E = np.eye(4, dtype=np.float32)
NAMES = ["Comedy", "Drama", "Horror"]


def _catalogue() -> tuple[np.ndarray, np.ndarray]:
    """(26, 4) item table and (26, 1) categories: 1..10 comedy (e0), 11..20 drama (e1),
    21..25 horror along e0 with lower scores; row 0 is padding."""
    table = np.zeros((26, 4), np.float32)
    ramp = np.linspace(2.0, 1.0, 10)[:, None]
    table[1:11] = ramp * E[0] + 0.1 * E[2]
    table[11:21] = ramp * E[1] + 0.1 * E[3]
    table[21:26] = np.linspace(0.9, 0.5, 5)[:, None] * E[0]
    cats = np.zeros((26, 1), np.int64)
    cats[1:11], cats[11:21], cats[21:26] = 1, 2, 3
    return table, cats


HISTORY = np.array([3, 12, 5, 14, 7])
# a left-padded window of 6: column j + 1 is history[j]
ATTENTION = np.array([[0, 0.1, 0, 0.6, 0, 0.3], [0, 0, 0.7, 0, 0.3, 0]])
USER = Interests(E[:2].copy(), np.array([0.5, 0.5]), ATTENTION)


def _retriever() -> Retriever:
    table, cats = _catalogue()
    idx = ExactIndex(4)
    idx.add(np.arange(1, 26), table[1:])
    content = table.copy()
    content[21:26] = E[3] + 0.1 * E[2]  # horror reads unlike comedy in content
    return Retriever(idx, ItemMetadata(cats, NAMES, content), label_items=10)


def test_top_events_align_the_window_with_the_history() -> None:
    got = top_events(ATTENTION[0], HISTORY, top=2)
    assert got == [
        {"item": 5, "position": 2, "events_ago": 2, "weight": 0.6},
        {"item": 7, "position": 4, "events_ago": 0, "weight": 0.3},
    ]
    # a history longer than the window: only its last 6 events were read
    long = np.arange(100, 110)
    assert [e["item"] for e in top_events(ATTENTION[1], long)] == [106, 108]
    assert top_events(None, HISTORY) == [] and top_events(ATTENTION[0], np.zeros(0)) == []


def test_label_from_items_weighs_the_nearest_most() -> None:
    _, cats = _catalogue()
    label = label_from_items(np.array([1, 2, 21, -1]), cats, NAMES)
    assert label["label"] == "Comedy / Horror"
    assert [c["code"] for c in label["categories"]] == [1, 3]
    assert sum(c["share"] for c in label["categories"]) == pytest.approx(1.0, abs=1e-3)


def test_labels_of_a_users_interests_lead_with_what_sets_each_apart() -> None:
    # two categories per item: Drama (2) with Romance (4) or with War (5); Comedy (1) elsewhere
    names = ["Comedy", "Drama", "Horror", "Romance", "War"]
    cats = np.zeros((13, 2), np.int64)
    cats[1:5] = [2, 4]
    cats[5:9] = [2, 5]
    cats[9:13] = [1, 0]
    base = np.array([0.0, 0.35, 0.05, 0.2, 0.2, 0.2])  # Drama is rare in this catalogue
    romance, war = np.array([1, 2, 3, 4]), np.array([5, 6, 7, 8])
    # alone, each list is most set apart from the catalogue by Drama: one label for both
    alone = [label_from_items(r, cats, names, 2, base)["label"] for r in (romance, war)]
    assert alone == ["Drama / Romance", "Drama / War"]
    assert {label_from_items(r, cats, names, 1, base)["label"] for r in (romance, war)} == {"Drama"}
    # together, what sets each apart from the other leads
    together = label_interests([romance, war], cats, names, 2, base)
    assert [x["label"] for x in together] == ["Romance / Drama", "War / Drama"]
    assert [x["label"] for x in label_interests([romance, war], cats, names, 1, base)] == [
        "Romance",
        "War",
    ]
    assert [x["label"] for x in label_interests([romance, war], cats, names, 2)] == [
        "Romance / Drama",
        "War / Drama",
    ]
    # copies set nothing apart: the same label twice (what interest_label_distinct counts)
    copies = label_interests([romance, romance.copy()], cats, names, 2, base)
    assert copies[0]["label"] == copies[1]["label"] == "Drama / Romance"
    # a category of a few items (3% here) does not lead for being absent elsewhere
    few = np.zeros((41, 1), np.int64)
    few[1:41] = 1  # Comedy
    few[20] = 4  # one Romance item, ranked last of the first interest's 20
    a, b = label_interests([np.arange(1, 21), np.arange(21, 41)], few, names, 2)
    assert a["label"] == "Comedy / Romance" and a["categories"][1]["share"] < LEAD_SHARE
    assert b["label"] == "Comedy"
    # one interest: the single-list rule
    assert label_interests([war], cats, names, 2, base) == [
        label_from_items(war, cats, names, 2, base)
    ]


def test_explanations_name_the_interest_its_label_and_events() -> None:
    recs = _retriever().recommend(USER, HISTORY, k=6, explain=True)
    assert len(recs) == 6 and not {r["item"] for r in recs} & set(HISTORY.tolist())
    for r in recs:
        want = 0 if r["item"] <= 10 or r["item"] > 20 else 1
        assert r["interest"] == want
        ex = r["explanation"]
        assert ex["interest"] == want and ex["interest_weight"] == 0.5
        if want == 0:
            assert ex["label"].startswith("Comedy")
            assert [e["item"] for e in ex["events"]] == [5, 7, 3]
        else:
            assert ex["label"] == "Drama"
            assert [e["item"] for e in ex["events"]] == [12, 14]
    assert _retriever().recommend(USER, HISTORY, k=2)[0]["explanation"] is None


def test_request_filters_are_respected() -> None:
    r = _retriever()
    items = [x["item"] for x in r.recommend(USER, HISTORY, k=8, exclude_categories=["Comedy"])]
    assert items and all(i > 10 for i in items)
    allowed = {1, 2, 3, 15, 16, 99}
    items = [x["item"] for x in r.recommend(USER, HISTORY, k=8, allow_list=allowed)]
    assert sorted(items) == [1, 2, 15, 16]  # 3 was seen, 99 is not indexed
    _, cats = _catalogue()
    items = [x["item"] for x in r.recommend(USER, HISTORY, k=8, max_per_category=2)]
    assert np.bincount(cats[items, 0]).max() <= 2
    with pytest.raises(ValueError, match="unknown category 'Jazz'"):
        r.recommend(USER, HISTORY, exclude_categories=["Jazz"])


def drama(recs: list[dict]) -> int:
    return sum(11 <= x["item"] <= 20 for x in recs)


def horror(recs: list[dict]) -> int:
    return sum(x["item"] > 20 for x in recs)


def test_steering_and_diversity_through_the_pipeline() -> None:
    r = _retriever()
    base = Request(k=6)
    assert drama(r.recommend(USER, HISTORY, base)) == 3
    assert drama(r.recommend(USER, HISTORY, base, focus=1)) >= 4
    muted = r.recommend(USER, HISTORY, base, mute=1)
    assert drama(muted) == 0 and {x["interest"] for x in muted} == {0}
    # re-ranking mixes in the lower-scored horror items, unlike comedy in content
    assert horror(muted) == 0
    for method in ("mmr", "dpp"):
        diverse = r.recommend(USER, HISTORY, base, mute=1, diversity=0.7, method=method)
        assert horror(diverse) >= 1 and {x["interest"] for x in diverse} == {0}


def test_interests_from_a_model_and_retriever_from_a_model() -> None:
    table, cats = _catalogue()
    out = Interests(E[None, :2], np.array([[0.5, 0.5]]))
    user = out.user(0)
    assert user.attention is None and user.vectors.shape == (2, 4) and out.n_users == 1
    # the two members of the model contract ``from_model`` reads: item vectors and the scorer
    model = SimpleNamespace(item_vectors=lambda: table, scorer=Scorer(np.zeros(len(table))))
    r = Retriever.from_model(model, ItemMetadata(cats, NAMES))
    assert len(r.index) == 25 and 0 not in r.index
    recs = r.recommend(user, HISTORY, k=4, explain=True)
    assert len(recs) == 4 and recs[0]["explanation"]["events"] == []


def test_search_goes_deeper_when_filters_empty_the_first_candidates() -> None:
    r = _retriever()
    r.candidates_per_interest = 1  # first round: 6 items per interest, all comedy for interest 0
    recs = r.recommend(USER, HISTORY, k=2, mute=1, exclude_categories=["Comedy"])
    assert [x["item"] for x in recs] == [21, 22]
