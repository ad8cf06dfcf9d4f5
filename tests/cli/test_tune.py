"""``prismrec tune``: a known best on a search small enough to check by hand, pruning reports,
a study resumed from its storage, and bad input refused with a message."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import prismrec as pr
from prismrec.config import PrismConfig, TuneConfig
from prismrec.evaluation.protocol import evaluate
from prismrec.training import ItemKNN, SASRec

EXE = Path(sys.executable).parent / "prismrec"
DECAYS = [0.05, 0.5, 1.0]


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=600)


def _space(**dims: dict[str, object]) -> PrismConfig:
    return PrismConfig(tune=TuneConfig(space=dims, trials=len(DECAYS)))  # type: ignore[arg-type]


def test_tune_finds_the_best_of_a_search_checked_by_hand(ml100k_recbole_prepared, tmp_path) -> None:
    """itemknn over three recency decays: the study's best is the decay whose model, trained
    directly, has the highest validation NDCG@10, with that value; best.toml trains it."""
    ds = ml100k_recbole_prepared
    by_hand = {}
    for d in DECAYS:
        rec = ItemKNN(PrismConfig().model.model_copy(update={"recency_decay": d})).fit(ds)
        by_hand[d] = evaluate(rec, ds.eval_cases("valid"), ks=(10,)).metrics["ndcg@10"]
    assert len(set(by_hand.values())) == len(DECAYS)  # the choice matters here
    cfg = _space(**{"model.recency_decay": {"choices": DECAYS}})
    cfg = cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"trials": 8})})
    result = pr.tune(ds.root, tmp_path / "t", "itemknn", config=cfg)
    want = max(by_hand, key=by_hand.__getitem__)
    assert result["best_params"] == {"model.recency_decay": want}
    assert result["best_value"] == pytest.approx(by_hand[want], abs=1e-9)
    for row in result["trials"]:  # every trial's value is that decay's
        assert row["value"] == pytest.approx(by_hand[row["params"]["model.recency_decay"]])
    best = tomllib.loads((tmp_path / "t" / "best.toml").read_text())
    assert best["model"]["recency_decay"] == want
    report = json.loads((tmp_path / "t" / "report.json").read_text())
    assert report["best_value"] == result["best_value"] and len(report["trials"]) == 8
    assert (tmp_path / "t" / "history.png").stat().st_size > 1000
    # the study lives in its storage: a second run adds to it
    again = pr.tune(ds.root, tmp_path / "t", "itemknn", config=cfg, trials=2)
    assert len(again["trials"]) == 10 and again["best_value"] == result["best_value"]


def test_training_reports_each_validation(ml100k_recbole_prepared) -> None:
    """What pruning reads: the validation NDCG@10 after each epoch, numbered from 1; raising
    from the hook stops the training there."""
    from prismrec.config import ModelConfig, TrainConfig

    small = ModelConfig(embedding_dim=8, n_layers=1, n_heads=1)
    seen: list[tuple[int, float]] = []
    rec = SASRec(
        small,
        TrainConfig(epochs=2, valid_users=200),
        on_validation=lambda step, value: seen.append((step, value)),
    )
    rec.fit(ml100k_recbole_prepared)
    assert [s for s, _ in seen] == [1, 2] and all(0 < v < 1 for _, v in seen)
    assert [round(v, 6) for _, v in seen] == [round(h["valid_ndcg@10"], 6) for h in rec.history]

    class Stop(Exception):
        pass

    def stop(step: int, value: float) -> None:
        raise Stop(step)

    rec = SASRec(small, TrainConfig(epochs=5, valid_users=200), on_validation=stop)
    with pytest.raises(Stop):
        rec.fit(ml100k_recbole_prepared)


def test_bad_input_gets_a_message_not_a_traceback(ml100k_recbole_prepared, tmp_path) -> None:
    data = ml100k_recbole_prepared.root
    bad = tmp_path / "bad.toml"
    bad.write_text('[tune.space]\n"model.no_such_key" = {low = 1, high = 2}\n')
    r = _cli("tune", "--data", data, "--out", tmp_path / "o", "--config", bad, "-t", "itemknn")
    assert r.returncode == 1 and "model.no_such_key" in r.stderr and "Traceback" not in r.stderr
    bad.write_text('[tune.space]\n"train.learning_rate" = {low = 0.1, high = 0.01}\n')
    r = _cli("tune", "--data", data, "--out", tmp_path / "o", "--config", bad)
    assert r.returncode == 1 and "low must be below high" in r.stderr
    r = _cli("tune", "--data", data, "--out", tmp_path / "o", "-t", "nope")
    assert r.returncode == 1 and "unknown model type 'nope'" in r.stderr
    r = _cli("tune", "--data", data, "--out", tmp_path / "o", "--trials", "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    store = tmp_path / "s.toml"
    store.write_text('[tune]\nstorage = "nosuchdb://x"\n')
    r = _cli("tune", "--data", data, "--out", tmp_path / "o", "--config", store, "-t", "pop")
    assert r.returncode == 1 and "cannot open the study storage" in r.stderr
