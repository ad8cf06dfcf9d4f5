"""Quantised FAISS indexes (fp16, sq8, pq) against the exact oracle; their settings' checks.

The add/update/remove/save contract runs for every quantised kind in ``test_retrieval_index``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prismrec.errors import ConfigError
from prismrec.retrieval import FaissIndex, IndexSettings, load_index, make_index

# recall@10 of the exact top-10 on planted clusters: measured 0.98-1.00 for every variant at
# 20k items (benchmarks/quantize_index.py has 100k and 1M); the floor leaves room for seeds
RECALL = 0.95
VARIANTS = [("hnsw", "fp16"), ("hnsw", "sq8"), ("ivf", "fp16"), ("ivf", "sq8"), ("ivf", "pq")]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def clustered(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Items around 200 centres with varied norms, and queries near random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d))
    items = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, d))
    items *= rng.uniform(0.5, 1.5, (n, 1))
    queries = centres[rng.integers(0, 200, 200)] + 0.6 * rng.standard_normal((200, d))
    return items.astype(np.float32), queries.astype(np.float32)


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    items, queries = clustered(10_000, 64, seed=5)
    ids = np.arange(1, len(items) + 1)
    truth, _ = make_index(items, ids, "exact").search(queries, 10)
    return items, ids, queries, truth


@pytest.mark.parametrize(("kind", "quantize"), VARIANTS)
def test_quantised_recall_against_the_exact_oracle(
    kind: str, quantize: str, planted: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    items, ids, queries, truth = planted
    settings = IndexSettings(quantize=quantize, transform="ip")  # type: ignore[arg-type]
    index = make_index(items, ids, kind, settings)  # type: ignore[arg-type]
    found, scores = index.search(queries, 10)
    assert recall_at(found, truth) >= RECALL
    # the quantised structure only proposes: scores are the exact inner products
    np.testing.assert_allclose(
        scores, np.einsum("qd,qkd->qk", queries, items[found - 1]), rtol=1e-4, atol=1e-4
    )
    # and it is smaller on disk than the float32 structure of the same kind
    plain = make_index(items, ids, kind, IndexSettings(transform="ip"))  # type: ignore[arg-type]
    small = index.save(tmp_path / "q") / "faiss.index"
    big = plain.save(tmp_path / "f") / "faiss.index"
    assert small.stat().st_size < big.stat().st_size


def test_pq_pads_the_l2_space_and_round_trips(tmp_path: Path) -> None:
    items, queries = clustered(3000, 16, seed=2)
    ids = np.arange(1, len(items) + 1)
    truth, _ = make_index(items, ids, "exact").search(queries, 10)
    settings = IndexSettings(quantize="pq", pq_m=8, transform="l2")  # 17 dims padded to 24
    index = make_index(items, ids, "ivf", settings)
    found, scores = index.search(queries, 10)
    assert recall_at(found, truth) >= 0.8  # the l2 space suits these isotropic clusters less
    np.testing.assert_allclose(
        scores, np.einsum("qd,qkd->qk", queries, items[found - 1]), rtol=1e-4, atol=1e-4
    )
    back = load_index(index.save(tmp_path / "pq"))
    assert (back.search(queries, 10)[0] == found).all()


def test_sq8_trained_on_few_items_is_retrained_once_the_catalogue_grows() -> None:
    items, _ = clustered(400, 16, seed=1)
    ids = np.arange(1, 401)
    settings = IndexSettings(kind="hnsw", quantize="sq8", background_rebuild=False)
    index = make_index(items[:100], ids[:100], "hnsw", settings)
    assert isinstance(index, FaissIndex) and index.stale_share == 0.0
    index.add(ids[100:], items[100:])  # ranges learnt from 100 items: these may not fit
    assert index.needs_rebuild
    index.rebuild()
    assert index.stale_share == 0.0 and len(index) == 400
    truth, _ = make_index(items, ids, "exact").search(items[::8], 10)
    assert recall_at(index.search(items[::8], 10)[0], truth) >= RECALL


@pytest.mark.parametrize(
    ("kind", "quantize", "message"),
    [
        ("exact", "sq8", "applies to the hnsw and ivf"),
        ("flat", "fp16", "applies to the hnsw and ivf"),
        ("hnsw", "pq", "needs the ivf index"),
        ("auto", "pq", "needs the ivf index"),
        ("hnsw", "int4", "none, fp16, sq8, pq"),
    ],
)
def test_quantize_that_does_not_fit_the_index_is_refused(
    kind: str, quantize: str, message: str
) -> None:
    items, _ = clustered(50, 8, seed=0)
    settings = IndexSettings(quantize=quantize)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        make_index(items, None, kind, settings)  # type: ignore[arg-type]


def test_auto_below_exact_below_ignores_quantize() -> None:
    items, _ = clustered(50, 8, seed=0)
    index = make_index(items, None, "auto", IndexSettings(quantize="sq8"))
    assert index.kind == "exact"
