"""ComiRec's λ-controlled category aggregation: hand-computed lists, the limits of λ, and the
option of the future-set protocol end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest

import prismrec as pr
from prismrec.data.synth import synthesize
from prismrec.errors import ConfigError
from prismrec.evaluation.aggregation import (
    POOL_FACTOR,
    category_aggregate,
    check_category_lambda,
)
from prismrec.evaluation.beyond import category_diversity
from prismrec.evaluation.protocol import evaluate_full, ranked_lists
from prismrec.evaluation.run import eval_catalog

# items 1..5 in categories A A B A C (codes 1 1 2 1 3); row 0 is padding
CATS = np.array([[0], [1], [1], [2], [1], [3]])
IDS = np.array([[1, 2, 3, 4, 5]])
SCORES = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])  # standardised: sqrt(2) * (1, .5, 0, -.5, -1)


def test_lambda_zero_is_the_top_n() -> None:
    assert category_aggregate(IDS, SCORES, CATS, 3, 0.0).tolist() == [[1, 2, 3]]
    # any order in, the same list out
    assert category_aggregate(IDS[:, ::-1], SCORES[:, ::-1], CATS, 3, 0.0).tolist() == [[1, 2, 3]]


def test_a_lambda_swaps_in_an_item_of_another_category_by_hand() -> None:
    # step 2 after item 1 (A): item 2 (A) has z = 1/sqrt(2), item 3 (B) z = 0 plus lambda * 1,
    # so item 3 comes second once lambda > 1/sqrt(2) = 0.7071
    assert category_aggregate(IDS, SCORES, CATS, 3, 0.70).tolist() == [[1, 2, 3]]
    # lambda = 1: step 3 gives item 2 0.707 + 1 (unlike item 3) = 1.707 and item 5 (C)
    # -1.414 + 2 = 0.586, so item 2 is third
    assert category_aggregate(IDS, SCORES, CATS, 3, 1.0).tolist() == [[1, 3, 2]]
    # lambda = 2.5: item 5 gets -1.414 + 5 = 3.586 against item 2's 0.707 + 2.5 = 3.207
    assert category_aggregate(IDS, SCORES, CATS, 3, 2.5).tolist() == [[1, 3, 5]]


def test_lambda_is_scale_free() -> None:
    # the scores are standardised per user: a model's scale or offset does not move lambda
    for a, b in ((1000.0, 0.0), (0.001, -7.0)):
        got = category_aggregate(IDS, a * SCORES + b, CATS, 3, 0.71)
        assert got.tolist() == [[1, 3, 2]]


def test_several_categories_count_by_the_cosine_of_their_sets() -> None:
    # item 2 has {A, B}: cosine 1/sqrt(2) with item 1's {A}, so g = 1 - 0.7071 = 0.2929;
    # item 3 is {C} (g = 1). After item 1: item 2 scores z2 + 0.2929 lambda, item 3 z3 + lambda
    cats = np.array([[0, 0], [1, 0], [1, 2], [3, 0]])
    ids, scores = np.array([[1, 2, 3]]), np.array([[3.0, 2.0, 1.0]])  # z: 1.2247 * (1, 0, -1)
    # item 3 overtakes item 2 when -1.2247 + lambda > 0.2929 lambda: lambda > sqrt(3) = 1.732
    cut = math.sqrt(3)
    assert category_aggregate(ids, scores, cats, 2, cut - 0.01).tolist() == [[1, 2]]
    assert category_aggregate(ids, scores, cats, 2, cut + 0.01).tolist() == [[1, 3]]
    # an item without a category adds nothing: however large lambda, item 2 is not preferred
    bare = np.array([[0, 0], [1, 0], [0, 0], [2, 0]])
    assert category_aggregate(ids, scores, bare, 2, 100.0).tolist() == [[1, 3]]


def test_duplicates_keep_their_best_score_and_empty_slots_stay_empty() -> None:
    # item 1 found twice (2.0 and 5.0): the max merge; row 0 and -inf are no candidates
    ids = np.array([[3, 1, 1, 0, 2, -1]])
    scores = np.array([[1.0, 2.0, 5.0, 9.0, -np.inf, 8.0]])
    assert category_aggregate(ids, scores, CATS, 4, 0.0, positions=True).tolist() == [
        [2, 0, -1, -1]
    ]
    assert category_aggregate(ids, scores, CATS, 4, 0.5).tolist() == [[1, 3, -1, -1]]


def _comirec_loop(ids: np.ndarray, z: np.ndarray, cats: np.ndarray, k: int, lam: float) -> list:
    """ComiRec's published loop (one category per item): score - lam * same-category count."""
    left, out, count = list(range(len(ids))), [], {}  # type: ignore[var-annotated]
    for _ in range(k):
        best = max(left, key=lambda j: (z[j] - lam * count.get(cats[ids[j], 0], 0), -j))
        left.remove(best)
        out.append(int(ids[best]))
        count[cats[ids[best], 0]] = count.get(cats[ids[best], 0], 0) + 1
    return out


@pytest.mark.parametrize("lam", [0.05, 0.2, 0.5, 3.0])
def test_equals_comirec_loop_on_random_lists(lam: float) -> None:
    # with one category per item, + lam * (#unlike picked) ranks as - lam * (#alike picked)
    rng = np.random.default_rng(1)
    cats = np.concatenate([[[0]], rng.integers(1, 6, size=(60, 1))])
    ids = np.stack([rng.permutation(np.arange(1, 61))[:30] for _ in range(25)])
    scores = -np.sort(-rng.normal(size=ids.shape), axis=1)  # best first, as recommend gives
    got = category_aggregate(ids, scores, cats, 10, lam)
    z = (scores - scores.mean(1, keepdims=True)) / scores.std(1, keepdims=True)
    for u in range(len(ids)):
        assert got[u].tolist() == _comirec_loop(ids[u], z[u], cats, 10, lam), u


def test_a_large_lambda_covers_every_category_it_can() -> None:
    rng = np.random.default_rng(2)
    cats = np.concatenate([[[0]], rng.integers(1, 9, size=(200, 1))])
    ids = np.stack([rng.permutation(np.arange(1, 201))[:40] for _ in range(30)])
    scores = rng.normal(size=ids.shape)
    for k in (5, 20):
        top = category_aggregate(ids, scores, cats, k, 1e6)
        plain = category_aggregate(ids, scores, cats, k, 0.0)
        for u in range(len(ids)):
            present = len(np.unique(cats[ids[u], 0]))
            assert len(np.unique(cats[top[u], 0])) == min(k, present)
        assert (category_diversity(top, cats, k) >= category_diversity(plain, cats, k)).all()


def test_a_wrong_lambda_is_a_config_error() -> None:
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="must be a number >= 0"):
            check_category_lambda(bad, CATS)
    with pytest.raises(ConfigError, match="needs item categories"):
        check_category_lambda(0.1, None)
    assert check_category_lambda(0, CATS) == 0.0


@pytest.mark.parametrize("model_type", ["itemknn", "prism"])
def test_category_lambda_is_an_option_of_evaluate(users_split: pr.Dataset, model_type: str) -> None:
    model = pr.train(users_split, model_type, epochs=1, embedding_dim=16, batch_size=256)
    plain = pr.evaluate(model, users_split)
    zero = pr.evaluate(model, users_split, category_lambda=0)
    wide = pr.evaluate(model, users_split, category_lambda=5.0)
    assert zero["protocol"]["category_lambda"] == 0.0 and "category_lambda" not in plain["protocol"]
    assert wide["protocol"]["aggregation_pool"] == POOL_FACTOR * 50
    assert "category_aggregation" in wide["definitions"]
    # lambda = 0 is the model's own list; a large lambda spreads it over categories
    for key in ("recall@50", "ndcg@20", "diversity@50"):
        assert zero[key] == pytest.approx(plain[key]), key
    assert wide["diversity@20"] > plain["diversity@20"]
    assert wide["category_coverage@20"] > plain["category_coverage@20"]
    # exactly: lambda = 0 gives the lists the model ranks
    cases = users_split.prepared.eval_cases("test")
    catalog = eval_catalog(users_split.prepared, "test")
    got = evaluate_full(
        model.recommender, cases, (20, 50), catalog=catalog, interest_k=None, category_lambda=0
    )
    assert np.array_equal(got.topk, ranked_lists(model.recommender, cases, 50))


def test_category_lambda_errors(
    users_split: pr.Dataset, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model = pr.train(users_split, "pop")
    with pytest.raises(ConfigError, match="must be a number >= 0"):
        pr.evaluate(model, users_split, category_lambda=-1)
    with pytest.raises(ConfigError, match="full ranking"):
        pr.evaluate(model, users_split, category_lambda=0.1, sampled=20)
    syn = synthesize(60, 40, 800, seed=8)
    bare = pr.Dataset.from_frame(
        syn.interactions.select("user_id", "item_id", "timestamp"),
        tmp_path_factory.mktemp("bare"),
        split="users",
    )
    with pytest.raises(ConfigError, match="needs item categories"):
        pr.evaluate(pr.train(bare, "pop"), bare, category_lambda=0.1)
