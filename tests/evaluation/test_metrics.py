"""Metrics against hand-computed values and against RecBole's documented formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix


def test_hit_matrix_marks_targets_and_ignores_padding() -> None:
    top = np.array([[5, 3, 9], [1, 2, 4], [-1, -1, -1]])
    hits = hit_matrix(top, [np.array([3, 9]), np.array([7]), np.array([1])])
    assert hits.tolist() == [[False, True, True], [False, False, False], [False, False, False]]


def test_hand_computed_single_target() -> None:
    # target at rank 3 of 5
    hits = np.array([[False, False, True, False, False]])
    m = accuracy_metrics(hits, np.array([1]), ks=(2, 5))
    assert m["hr@2"][0] == 0 and m["hr@5"][0] == 1
    assert m["recall@5"][0] == 1.0
    assert m["mrr@5"][0] == pytest.approx(1 / 3)
    assert m["ndcg@5"][0] == pytest.approx(1 / math.log2(4))
    assert m["precision@5"][0] == pytest.approx(0.2)
    assert m["map@5"][0] == pytest.approx(1 / 3)
    assert m["ndcg@2"][0] == 0 and m["mrr@2"][0] == 0


def test_hand_computed_several_targets_and_k_larger_than_targets() -> None:
    # 3 targets, hits at ranks 1 and 4 of a 4-long list
    hits = np.array([[True, False, False, True]])
    m = accuracy_metrics(hits, np.array([3]), ks=(4,))
    dcg = 1 + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@4"][0] == pytest.approx(dcg / idcg)
    assert m["recall@4"][0] == pytest.approx(2 / 3)
    assert m["map@4"][0] == pytest.approx((1 + 2 / 4) / 3)
    assert m["precision@4"][0] == pytest.approx(0.5)
    # K larger than the list: metrics use what is there, precision still divides by K
    m10 = accuracy_metrics(hits, np.array([3]), ks=(10,))
    assert m10["recall@10"][0] == pytest.approx(2 / 3)
    assert m10["precision@10"][0] == pytest.approx(0.2)
    assert m10["ndcg@10"][0] == pytest.approx(dcg / idcg)


def test_no_hit_is_zero_everywhere() -> None:
    m = accuracy_metrics(np.zeros((1, 5), dtype=bool), np.array([2]), ks=(5,))
    assert all(v[0] == 0 for v in m.values())


# --- RecBole's formulas (recbole/evaluator/metrics.py), written out over pos_index/pos_len ---
def _recbole(pos_index: np.ndarray, pos_len: np.ndarray) -> dict[str, np.ndarray]:
    n, k = pos_index.shape
    ranks = np.arange(1, k + 1)
    hit = (np.cumsum(pos_index, axis=1) > 0).astype(float)
    mrr = np.zeros((n, k))
    for row, idx in enumerate(pos_index.argmax(axis=1)):
        mrr[row, idx:] = 1 / (idx + 1) if pos_index[row, idx] > 0 else 0
    recall = np.cumsum(pos_index, axis=1) / pos_len.reshape(-1, 1)
    idcg_len = np.where(pos_len > k, k, pos_len)
    idcg = np.cumsum(1.0 / np.log2(np.tile(ranks, (n, 1)) + 1), axis=1)
    for row, idx in enumerate(idcg_len):
        idcg[row, idx:] = idcg[row, idx - 1]
    dcg = np.cumsum(np.where(pos_index, 1.0 / np.log2(ranks + 1), 0), axis=1)
    ndcg = dcg / idcg
    pre = pos_index.cumsum(axis=1) / ranks
    sum_pre = np.cumsum(pre * pos_index.astype(float), axis=1)
    mapk = np.zeros((n, k))
    for row, lens in enumerate(idcg_len):
        r = ranks.copy()
        r[lens:] = r[lens - 1]
        mapk[row] = sum_pre[row] / r
    return {"hr": hit, "mrr": mrr, "recall": recall, "ndcg": ndcg, "precision": pre, "map": mapk}


def test_equal_to_recbole_definitions_on_a_fixed_score_matrix() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, K = 200, 60, 20
    scores = rng.normal(size=(n_users, n_items))
    targets = [rng.choice(n_items, size=rng.integers(1, 8), replace=False) for _ in range(n_users)]
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    hits = hit_matrix(top, targets)
    pos_len = np.array([len(t) for t in targets])
    ref = _recbole(hits, pos_len)
    for k in (1, 5, 10, 20):
        ours = accuracy_metrics(hits, pos_len, ks=(k,))
        for name, mat in ref.items():
            np.testing.assert_allclose(ours[f"{name}@{k}"], mat[:, k - 1], atol=1e-6, err_msg=name)
