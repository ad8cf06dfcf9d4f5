"""The future-set protocol end to end: every model trains and evaluates on a users split, and
the Python API serves a never-seen user exactly as evaluate ranks them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import prismrec as pr
from prismrec.api.evaluation import with_merge
from prismrec.data.synth import synthesize
from prismrec.errors import ConfigError
from prismrec.evaluation.future_set import protocol_ks, protocol_record
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import ranked_lists


def test_future_set_metrics_by_hand() -> None:
    # a target set of 3 distinct items; the list hits two of them at ranks 2 and 5
    top = np.array([[7, 3, 8, 9, 5, 1]])
    targets = [np.array([3, 4, 5])]
    m = accuracy_metrics(
        hit_matrix(top, targets), np.array([3]), ks=(2, 6), metrics=("recall", "hr", "ndcg")
    )
    assert m["recall@2"][0] == pytest.approx(1 / 3) and m["recall@6"][0] == pytest.approx(2 / 3)
    assert m["hr@2"][0] == m["hr@6"][0] == 1.0
    # IDCG over min(|targets|, N) ideal hits: 2 at N = 2, 3 at N = 6
    assert m["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@6"][0] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / idcg)
    # not ComiRec's dcg / hits (which would give 1 / log2(3) / 2 ... here)
    assert m["ndcg@6"][0] != pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / 2)


def test_protocol_record_and_cut_offs() -> None:
    loo = {"split": {"kind": "loo"}}
    assert protocol_ks(loo) == (10, 20) and protocol_record(loo) == {"protocol": "leave-one-out"}
    users = {
        "split": {
            "kind": "users",
            "assignment": "given",
            "train_users": 80,
            "valid_users": 10,
            "test_users": 10,
            "input_share": 0.8,
        }
    }
    assert protocol_ks(users) == (20, 50) and protocol_ks(users, [50, 5]) == (5, 50)
    rec = protocol_record(users)
    assert rec["protocol"] == "future-set" and rec["assignment"] == "given"
    assert rec["valid_user_share"] == rec["test_user_share"] == 0.1
    with pytest.raises(ConfigError):
        protocol_ks(users, [0])


@pytest.mark.parametrize("model_type", ["pop", "itemknn", "bpr", "sasrec", "prism"])
def test_every_model_trains_and_evaluates_on_a_users_split(
    users_split: pr.Dataset, model_type: str
) -> None:
    model = pr.train(users_split, model_type, epochs=1, embedding_dim=16, batch_size=256)
    res = pr.evaluate(model, users_split, split="test")
    proto = res["protocol"]
    assert proto["protocol"] == "future-set" and proto["ks"] == [20, 50]
    assert proto["test_users"] == res["n_users"] == 20 and proto["seen_items_masked"]
    for k in ("recall@20", "hr@50", "ndcg@50", "diversity@20", "diversity@50"):
        assert 0.0 <= res[k] <= 1.0, k
    assert res["recall@50"] >= res["recall@20"] and "diversity" in res["definitions"]
    kept = pr.evaluate(model, users_split, split="valid", filter_seen=False, ks=[5])
    assert kept["protocol"]["seen_items_masked"] is False and "recall@5" in kept


@pytest.fixture(scope="module")
def one_type(tmp_path_factory: pytest.TempPathFactory) -> pr.Dataset:
    """Item ids in order and nothing else (as RetailRocket or Amazon), split by users."""
    syn = synthesize(200, 150, 4000, seed=6)
    seqs = (
        syn.interactions.sort("user_id", "timestamp")
        .group_by("user_id", maintain_order=True)
        .agg("item_id")
        .get_column("item_id")
        .to_list()
    )
    code = {item: n for n, item in enumerate(sorted({i for q in seqs for i in q}), start=1)}
    raw = tmp_path_factory.mktemp("one")
    for name, lo, hi in (("train", 0, 160), ("valid", 160, 180), ("test", 180, 200)):
        lines = [" ".join(map(str, [u + 1, *(code[i] for i in seqs[u])])) for u in range(lo, hi)]
        (raw / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return pr.prepare(raw, raw / "prep", format="comirec")


def test_prism_serves_an_item_id_history_as_evaluate_ranks_it(
    one_type: pr.Dataset, tmp_path: Path
) -> None:
    # with one behaviour type in the data, an item-id history is read as events of that type
    pr.train(one_type, "prism", epochs=1, embedding_dim=16, batch_size=256, out=tmp_path / "m")
    model = pr.load(tmp_path / "m")  # what it learned of the data survives the round trip
    cases = one_type.prepared.eval_cases("test")
    ranked = ranked_lists(model.recommender, cases, 50)
    items = one_type.prepared.item_vocab
    for i in range(len(cases)):
        history = items.external(cases.histories[i])
        got = [r["item_id"] for r in model.recommend_for(history=history, k=50)]
        assert got == items.external(ranked[i][ranked[i] >= 0]), i


@pytest.mark.parametrize("model_type", ["itemknn", "bpr", "sasrec"])
def test_recommend_for_a_history_is_the_list_evaluate_ranks(
    users_split: pr.Dataset, model_type: str, tmp_path: Path
) -> None:
    model = pr.train(users_split, model_type, epochs=1, embedding_dim=16, out=tmp_path / "m")
    model = pr.load(tmp_path / "m")
    cases = users_split.prepared.eval_cases("test")
    ranked = ranked_lists(model.recommender, cases, 50)
    items = users_split.prepared.item_vocab
    for i in range(0, len(cases), 4):
        history = items.external(cases.histories[i])
        got = [r["item_id"] for r in model.recommend_for(history=history, k=50)]
        assert got == items.external(ranked[i][ranked[i] >= 0]), i


def test_merge_rule_is_an_option_of_evaluate(users_split: pr.Dataset) -> None:
    model = pr.train(users_split, "prism", epochs=1, embedding_dim=16, batch_size=256)
    got = {m: pr.evaluate(model, users_split, merge=m) for m in ("mixture", "max", "quota")}
    assert {m: r["protocol"]["merge"] for m, r in got.items()} == {
        "mixture": "mixture",
        "max": "max",
        "quota": "quota",
    }
    # the model's own rule is the mixture, and evaluating another leaves the model as it was
    assert pr.evaluate(model, users_split)["protocol"]["merge"] == "mixture"
    assert got["mixture"]["recall@50"] == pr.evaluate(model, users_split)["recall@50"]
    # ComiRec's merge by score ranks by another rule: some user's list differs
    cases = users_split.prepared.eval_cases("test")
    ranks = {
        m: ranked_lists(with_merge(model.recommender, m), cases, 50) for m in ("mixture", "max")
    }
    assert (ranks["mixture"] != ranks["max"]).any()
    with pytest.raises(ConfigError, match="merge must be one of"):
        pr.evaluate(model, users_split, merge="best")
    pop = pr.train(users_split, "pop")
    with pytest.raises(ConfigError, match="several interests"):
        pr.evaluate(pop, users_split, merge="max")
