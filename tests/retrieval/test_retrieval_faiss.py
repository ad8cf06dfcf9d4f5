"""FAISS against the exact oracle: recall@10 on clustered and real item vectors, rebuilds."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from prismrec.retrieval import ExactIndex, FaissIndex, IndexSettings, _backends, make_index

RECALL = 0.95


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def clustered(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Items around 200 centres with varied norms, and queries near random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d))
    items = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, d))
    items *= rng.uniform(0.5, 1.5, (n, 1))
    queries = centres[rng.integers(0, 200, 300)] + 0.6 * rng.standard_normal((300, d))
    return items.astype(np.float32), queries.astype(np.float32)


@pytest.fixture(scope="module")
def ml_vectors(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """(9742, 64) item and (610, 64) user vectors: a truncated SVD of ml-latest-small."""
    from prismrec.data.dataset import prepare

    ds = prepare("bundled:ml-latest-small", tmp_path_factory.mktemp("mls"))
    frame = pl.read_parquet(ds.root / "interactions.parquet", columns=["user_idx", "item_idx"])
    users, items = frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy() - 1
    m = sp.csr_matrix((np.ones(len(items)), (items, users)), (ds.n_items, users.max() + 1))
    m.data[:] = 1.0  # repeated events count once
    gram = (m.T @ m).toarray()  # (users, users): SVD through the small side
    with threadpool_limits(1, user_api="blas"):  # threaded BLAS crawls on a busy machine
        values, vecs = np.linalg.eigh(gram)
    top = np.argsort(-values)[:64]
    item_vecs = np.asarray(m @ vecs[:, top], dtype=np.float32)  # U * S
    return item_vecs, vecs[:, top].astype(np.float32)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_recall_on_clustered_vectors(kind: str) -> None:
    items, queries = clustered(20_000, 64, seed=3)
    ids = np.arange(1, len(items) + 1)
    truth, _ = make_index(items, ids, "exact").search(queries, 10)
    index = make_index(items, ids, kind)  # type: ignore[arg-type]
    assert isinstance(index, FaissIndex)
    assert index.settings.transform == "ip"  # isotropic clusters: inner product as is wins
    found, scores = index.search(queries, 10)
    assert recall_at(found, truth) >= RECALL
    # scores are exact inner products of the ids returned
    np.testing.assert_allclose(
        scores[:, 0], np.einsum("qd,qd->q", queries, items[found[:, 0] - 1]), rtol=1e-4
    )


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_recall_on_real_item_vectors(kind: str, ml_vectors: tuple[np.ndarray, np.ndarray]) -> None:
    items, users = ml_vectors
    ids = np.arange(1, len(items) + 1)
    truth, _ = make_index(items, ids, "exact").search(users, 10)
    index = make_index(items, ids, kind)  # type: ignore[arg-type]
    assert isinstance(index, FaissIndex)
    assert index.settings.transform == "l2"  # many short vectors: the L2 transform wins
    found, _ = index.search(users, 10)
    assert recall_at(found, truth) >= RECALL
    for space in ("ip", "l2"):  # both spaces stay exact in what they return
        fixed = make_index(items, ids, kind, IndexSettings(transform=space))  # type: ignore[arg-type]
        got, scores = fixed.search(users[:20], 10)
        np.testing.assert_allclose(
            scores, np.einsum("qd,qkd->qk", users[:20], items[got - 1]), rtol=1e-4, atol=1e-4
        )


def _small(n: int = 2000, d: int = 16, **kw: object) -> tuple[FaissIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, d)).astype(np.float32)
    ids = np.arange(1, n + 1)
    settings = IndexSettings(hnsw_m=16, ef_construction=64, ef_search=64, **kw)  # type: ignore[arg-type]
    idx = make_index(vecs, ids, "hnsw", settings)
    assert isinstance(idx, FaissIndex)
    return idx, ids, vecs


def _oracle(idx: FaissIndex) -> ExactIndex:
    live = idx.ids()
    exact = ExactIndex(idx.dim)
    exact.add(live, idx.vectors(live))
    return exact


def test_background_rebuild_compacts_and_stays_correct() -> None:
    idx, ids, vecs = _small(rebuild_share=0.2)
    idx.remove(ids[:300])  # 300 / 1700 < 20%: no rebuild yet
    assert not idx.needs_rebuild and idx.rebuilds == 0
    idx.remove(ids[300:500])  # 500 / 1500 > 20%: a background rebuild starts
    assert idx.join_rebuild(timeout=60)
    assert idx.rebuilds == 1 and idx.stale_share == 0.0 and not idx.needs_rebuild
    found, _ = idx.search(vecs[:600], 10)
    assert not np.isin(found, ids[:500]).any()
    truth, _ = _oracle(idx).search(vecs[:600], 10)
    assert recall_at(found, truth) >= RECALL


def test_changes_during_a_rebuild_are_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    idx, ids, vecs = _small(background_rebuild=False)
    gate = threading.Event()

    class Slow(_backends.HnswBackend):  # the fresh structure's build waits until we are done
        def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
            assert gate.wait(30)
            super().add(ids, vecs)

    monkeypatch.setitem(_backends.BACKENDS, "hnsw", Slow)
    idx.rebuild(background=True)
    assert idx.rebuilding
    new = -vecs[10:11] * 2
    idx.remove(ids[:5])
    idx.update(np.array([11]), new)
    idx.add(np.array([9999]), vecs[20:21] * 3)
    mid, _ = idx.search(vecs[:5], 5)  # the old structure still answers meanwhile
    assert not np.isin(mid, ids[:5]).any()
    gate.set()
    assert idx.join_rebuild(timeout=60) and idx.rebuilds == 1
    assert len(idx) == len(ids) - 5 + 1
    found, _ = idx.search(vecs[:5], 5)
    assert not np.isin(found, ids[:5]).any()
    assert idx.search(new, 1)[0][0, 0] == 11
    assert idx.search(vecs[20:21], 2)[0][0, 0] == 9999


def test_searches_during_a_background_rebuild_never_see_removed_ids() -> None:
    idx, ids, vecs = _small(n=3000, rebuild_share=0.15)
    errors: list[str] = []
    stop = threading.Event()
    idx.remove(ids[:300])  # 11%: not yet a rebuild
    assert not idx.rebuilding

    def search_loop() -> None:
        while not stop.is_set():
            found, _ = idx.search(vecs[:50], 10)
            if np.isin(found, ids[:300]).any():
                errors.append("removed id returned")

    worker = threading.Thread(target=search_loop)
    worker.start()
    idx.remove(ids[300:600])  # 25%: rebuild in the background while the loop searches
    assert idx.join_rebuild(timeout=60)
    stop.set()
    worker.join()
    assert not errors and idx.rebuilds == 1
    assert not np.isin(idx.search(vecs[:700], 10)[0], ids[:600]).any()


def test_long_vectors_wait_in_the_side_set_until_a_rebuild(tmp_path: Path) -> None:
    idx, ids, vecs = _small(background_rebuild=False)
    long = vecs[:3] * 10  # longer than any vector the graph was built with
    idx.update(ids[:3], long)
    assert idx.stale_share > 0
    for i in range(3):
        assert idx.search(long[i : i + 1], 1)[0][0, 0] == ids[i]
    idx.rebuild()
    assert idx.stale_share == 0.0
    assert idx.search(long[:1], 1)[0][0, 0] == ids[0]
