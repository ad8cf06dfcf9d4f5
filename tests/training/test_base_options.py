"""Declared interfaces: constructor options, parameter overrides and the evaluation protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prismrec.config import ContentConfig, ModelConfig, PrismConfig, TrainConfig
from prismrec.errors import ConfigError
from prismrec.evaluation.protocol import CatalogSized, FullScorer, Ranker, rank_sampled
from prismrec.training import BPRMF, PrismRecommender, SASRec
from prismrec.training.baselines import ItemKNN


def test_with_params_sends_bare_and_dotted_keys_to_their_section() -> None:
    cfg = PrismConfig().with_params(
        {"embedding_dim": 24, "train.batch_size": 64, "model.n_layers": 1, "epochs": None}
    )
    assert (cfg.model.embedding_dim, cfg.model.n_layers) == (24, 1)
    assert cfg.train.batch_size == 64
    assert "epochs" not in cfg.train.model_fields_set  # None: not given
    assert PrismConfig().with_params({}) == PrismConfig()


@pytest.mark.parametrize("key", ["embedding_dimm", "model.batch_size", "serve.max_k", "x.y.z"])
def test_with_params_names_an_unknown_key(key: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown parameter '{key}'"):
        PrismConfig().with_params({key: 1})


def test_with_params_reports_a_refused_value() -> None:
    with pytest.raises(ConfigError, match=r"\[model\]"):
        PrismConfig().with_params({"embedding_dim": -1})


def test_options_are_given_to_the_constructor(tmp_path: Path) -> None:
    seen: list[tuple[int, float]] = []

    def hook(step: int, value: float) -> None:
        seen.append((step, value))

    bpr = BPRMF(checkpoint_dir=str(tmp_path), on_validation=hook)
    assert bpr.checkpoint_dir == tmp_path and bpr.on_validation is hook
    content = ContentConfig()
    prism = SASRec(content_config=content, warm_start_dir=str(tmp_path / "a"))
    assert prism.content_config is content and prism.warm_start_dir == tmp_path / "a"
    plain = ItemKNN()
    assert plain.checkpoint_dir is None and plain.on_validation is None
    assert plain.best_valid_ndcg is None and plain.seconds_to_best is None


def test_with_settings_is_a_copy() -> None:
    rec = PrismRecommender(ModelConfig(n_interests=4), TrainConfig(epochs=1))
    other = rec.with_settings(merge="max")
    assert other.model_config.merge == "max" and rec.model_config.merge is None
    assert type(other) is PrismRecommender and other.train_config is rec.train_config


def test_recommenders_satisfy_the_evaluation_protocols() -> None:
    rec = ItemKNN()
    assert isinstance(rec, Ranker) and isinstance(rec, FullScorer)
    assert isinstance(rec, CatalogSized)
    assert not isinstance(_RankOnly(_SCORES), FullScorer)
    assert not isinstance(_RankOnly(_SCORES), CatalogSized)


# ----- rank_sampled: the score path and the recommend path give the same lists -------------------
_SCORES = np.array([[0.0, 0.9, 0.1, 0.8, 0.5, 0.3, 0.7], [0.0, 0.2, 0.6, 0.4, 0.9, 0.1, 0.5]])


@dataclass
class _Cases:
    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def inputs(self) -> Sequence[Any]:
        return self.histories


class _RankOnly:
    """A ranker without ``score`` or ``n_items`` (like an ANN index)."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def recommend(
        self,
        histories: Sequence[np.ndarray],
        k: int = 10,
        filter_seen: bool = True,
        items: np.ndarray | None = None,
        users: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert users is not None
        s = self.scores[users].astype(np.float64)
        s[:, 0] = -np.inf
        if items is not None:
            keep = np.zeros(s.shape[1], dtype=bool)
            keep[items] = True
            s[:, ~keep] = -np.inf
        if filter_seen:
            for row, h in enumerate(histories):
                s[row, h] = -np.inf
        ids = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return ids, np.take_along_axis(s, ids, axis=1)


class _Scoring(_RankOnly):
    n_items = 6

    def score(self, histories: Sequence[Any], users: np.ndarray | None = None) -> np.ndarray:
        assert users is not None
        return self.scores[users]


def test_rank_sampled_paths_agree() -> None:
    cases = _Cases(np.array([0, 1]), [np.array([1]), np.array([2])], [np.array([3]), np.array([4])])
    full = rank_sampled(_Scoring(_SCORES), cases, 3, n_negatives=3, seed=1)
    ranked = rank_sampled(_RankOnly(_SCORES), cases, 3, n_negatives=3, seed=1, n_items=6)
    np.testing.assert_array_equal(full, ranked)
    with pytest.raises(TypeError, match="n_items="):
        rank_sampled(_RankOnly(_SCORES), cases, 3, n_negatives=3)
