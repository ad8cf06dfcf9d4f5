"""A model's own [train] defaults apply to the keys the caller left unset, never over them."""

from __future__ import annotations

from prismrec.config import PrismConfig, TrainConfig
from prismrec.training import BPRMF, PrismRecommender


def test_model_train_defaults_fill_only_unset_keys() -> None:
    assert BPRMF.train_defaults  # BPR has tuned defaults of its own
    key, value = next(iter(BPRMF.train_defaults.items()))
    assert BPRMF(train=TrainConfig()).train_config.model_dump()[key] == value
    shared = TrainConfig.model_fields[key].default
    assert shared != value
    assert BPRMF(train=TrainConfig(**{key: shared})).train_config.model_dump()[key] == shared
    assert PrismRecommender(train=TrainConfig()).train_config == TrainConfig()


def test_overrides_keep_unset_keys_unset() -> None:
    cfg = PrismConfig().with_overrides("train", epochs=3)
    assert cfg.train.model_fields_set == {"epochs"}
    assert BPRMF(train=cfg.train).train_config.epochs == 3
