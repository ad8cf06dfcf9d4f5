"""Index contract: known answers of the exact oracle, and add/update/remove/save for every kind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from prismrec.errors import ConfigError, UnknownIdError
from prismrec.retrieval import (
    ExactIndex,
    FaissIndex,
    IndexSettings,
    ItemIndex,
    index_item_table,
    load_index,
    make_index,
)

# every index, quantised ones as "kind+quantize": the same contract for all
KINDS = ["exact", "flat", "hnsw", "ivf", "hnsw+fp16", "hnsw+sq8", "ivf+sq8", "ivf+pq"]
# small builds: IVF gets a handful of lists, HNSW a small graph; no automatic rebuilds here
SMALL = IndexSettings(hnsw_m=16, ef_construction=64, ef_search=64, background_rebuild=False)


def _settings(kind: str) -> tuple[str, IndexSettings]:
    """The index kind and the SMALL settings, quantised as ``kind+quantize`` says."""
    base, _, quantize = kind.partition("+")
    return base, dataclasses.replace(SMALL, quantize=quantize or "none", pq_m=8)  # type: ignore[arg-type]


def _data(n: int = 600, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(1, n + 1, dtype=np.int64), rng.standard_normal((n, d)).astype(np.float32)


def _build(kind: str, ids: np.ndarray, vecs: np.ndarray) -> ItemIndex:
    base, settings = _settings(kind)
    return make_index(vecs, ids, base, settings)  # type: ignore[arg-type]


# ----- the exact oracle: hand-checked answers ------------------------------------------------
def test_exact_known_answers_ties_and_padding() -> None:
    idx = ExactIndex(2)
    idx.add(np.array([10, 20, 30, 40]), np.array([[1, 0], [0, 1], [1, 1], [1, 0]], np.float32))
    ids, scores = idx.search(np.array([[1.0, 0.0], [0.0, 2.0]]), 3)
    # query 0: 30, 10 and 40 all score 1 -> ties by lower id; query 1: 20 and 30 score 2
    assert ids.tolist() == [[10, 30, 40], [20, 30, 10]]
    assert scores.tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 0.0]]
    ids, scores = idx.search(np.array([[1.0, 0.0]]), 6, exclude=[{10, 99}])
    assert ids.tolist() == [[30, 40, 20, -1, -1, -1]]
    assert np.isneginf(scores[0, 3:]).all()
    assert scores.dtype == np.float32 and ids.dtype == np.int64


def test_exact_matches_brute_force() -> None:
    ids, vecs = _data(500, 8)
    q = np.random.default_rng(1).standard_normal((7, 8)).astype(np.float32)
    got, scores = make_index(vecs, ids, "exact").search(q, 5)
    full = q @ vecs.T
    want = ids[np.argsort(-full, axis=1)[:, :5]]
    assert (got == want).all()
    np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-5)


def test_make_index_auto_choice_and_item_table() -> None:
    ids, vecs = _data(300, 8)
    assert isinstance(make_index(vecs, ids), ExactIndex)
    small_auto = IndexSettings(exact_below=100)
    hnsw = make_index(vecs, ids, settings=small_auto)
    assert isinstance(hnsw, FaissIndex) and hnsw.kind == "hnsw"
    table = np.vstack([np.zeros((1, 8), np.float32), vecs])
    idx = index_item_table(table)
    assert len(idx) == 300 and 0 not in idx and 1 in idx
    with pytest.raises(ConfigError, match="unknown index kind"):
        make_index(vecs, ids, "annoy")  # type: ignore[arg-type]


# ----- every kind: the same contract --------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_add_then_search_finds_it_at_once(kind: str) -> None:
    ids, vecs = _data()
    idx = _build(kind, ids, vecs)
    target = np.full((1, vecs.shape[1]), 5.0, np.float32)
    idx.add(np.array([5000]), target)
    assert len(idx) == len(ids) + 1 and 5000 in idx
    got, _ = idx.search(target, 3)
    assert got[0, 0] == 5000
    with pytest.raises(ValueError, match="already indexed"):
        idx.add(np.array([5000]), target)


@pytest.mark.parametrize("kind", KINDS)
def test_removed_id_never_comes_back(kind: str) -> None:
    ids, vecs = _data()
    idx = _build(kind, ids, vecs)
    gone = ids[:50]
    assert idx.remove(np.r_[gone, 99_999]) == 50  # unknown ids are ignored
    got, _ = idx.search(vecs[:50], 20)  # each removed vector as its own query
    assert not np.isin(got, gone).any()
    assert len(idx) == len(ids) - 50 and int(gone[0]) not in idx
    if isinstance(idx, FaissIndex):
        idx.rebuild()
        got, _ = idx.search(vecs[:50], 20)
        assert not np.isin(got, gone).any()


@pytest.mark.parametrize("kind", KINDS)
def test_updated_vector_is_found_at_its_new_position(kind: str) -> None:
    ids, vecs = _data()
    idx = _build(kind, ids, vecs)
    new = -vecs[7:8] * 3  # far from where item 8 was
    idx.update(np.array([8, 7000]), np.vstack([new, vecs[:1]]))  # upsert: one update, one add
    assert len(idx) == len(ids) + 1
    got, scores = idx.search(new, 1)
    assert got[0, 0] == 8
    np.testing.assert_allclose(scores[0, 0], float(new[0] @ new[0]), rtol=1e-4)
    old, _ = idx.search(vecs[7:8], 5)
    assert 8 not in old[0]
    np.testing.assert_allclose(idx.vectors(np.array([8])), new)


@pytest.mark.parametrize("kind", KINDS)
def test_exclude_padding_and_empty(kind: str) -> None:
    ids, vecs = _data(100, 8)
    idx = _build(kind, ids, vecs)
    top, _ = idx.search(vecs[:2], 5)
    ex, _ = idx.search(vecs[:2], 5, exclude=[set(top[0, :3].tolist()), None])
    assert not np.isin(ex[0], top[0, :3]).any() and (ex[1] == top[1]).all()
    many, _ = idx.search(vecs[:1], 150)
    assert (many[0, 100:] == -1).all() and len(set(many[0, :100].tolist())) == 100
    base, settings = _settings(kind)
    empty = _build(kind, ids[:0], vecs[:0]) if kind == "exact" else FaissIndex(8, base, settings)  # type: ignore[arg-type]
    got, scores = empty.search(vecs[:1], 3)
    assert (got == -1).all() and np.isneginf(scores).all()


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    ids, vecs = _data()
    idx = _build(kind, ids, vecs)
    idx.remove(ids[:10])
    idx.update(ids[10:11], vecs[20:21] * 2)
    before = idx.search(vecs[:20], 10)
    back = load_index(idx.save(tmp_path / kind))
    assert type(back) is type(idx) and len(back) == len(idx) and back.kind == idx.kind
    assert getattr(back, "settings", None) == getattr(idx, "settings", None)
    after = back.search(vecs[:20], 10)
    assert (after[0] == before[0]).all()
    np.testing.assert_allclose(after[1], before[1])
    back.add(np.array([9000]), vecs[:1] * 4)  # still updatable after loading
    assert back.search(vecs[:1], 1)[0][0, 0] == 9000


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_reported(kind: str) -> None:
    ids, vecs = _data(100, 8)
    idx = _build(kind, ids, vecs)
    with pytest.raises(ValueError, match="dimension"):
        idx.add(np.array([1000]), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="duplicate"):
        idx.update(np.array([1000, 1000]), np.zeros((2, 8)))
    with pytest.raises(ValueError, match="NaN"):
        idx.update(np.array([1000]), np.full((1, 8), np.nan))
    with pytest.raises(ValueError, match="queries"):
        idx.search(np.zeros((1, 5)), 3)
    with pytest.raises(ValueError, match="exclude"):
        idx.search(np.zeros((2, 8)), 3, exclude=[set()])
    with pytest.raises(UnknownIdError, match="123456"):
        idx.vectors(np.array([1, 123456]))
