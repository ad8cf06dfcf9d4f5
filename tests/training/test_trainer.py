"""The training loop's early stopping: a gain inside the validation noise is no gain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prismrec.config import TrainConfig
from prismrec.training.trainer import Trainer


class _Rows:
    """Two training rows of one feature: enough for a step per epoch."""

    def __len__(self) -> int:
        return 2

    def batches(self, batch_size: int, rng: object, rows: np.ndarray | None = None):
        yield {"x": torch.ones(2, 1)}


class _Step(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(1, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.w(batch["x"]).pow(2).mean()
        return loss, {"loss": float(loss.detach())}


def _fit(min_gain: float, gains: list[float]) -> Trainer:
    """Train len(gains) epochs whose validation users score ``base + gain`` (plus noise)."""
    rng = np.random.default_rng(0)
    base = rng.random(2000) * 0.5
    epochs = iter(gains)

    def validate() -> tuple[float, dict[str, float], np.ndarray]:
        users = np.clip(base + next(epochs) + rng.normal(0.0, 0.05, base.shape), 0, 1)
        return float(users.mean()), {"ndcg@10": float(users.mean())}, users

    cfg = TrainConfig(epochs=len(gains), patience=10, min_gain=min_gain, warmup_ratio=0.0)
    trainer = Trainer(_Step(), _Rows(), cfg, validate)  # type: ignore[arg-type]
    trainer.fit(resume=False)
    return trainer


@pytest.mark.parametrize(("min_gain", "best_epoch"), [(0.0, 3), (2.0, 1)])
def test_a_gain_inside_the_noise_of_the_users_does_not_count(
    min_gain: float, best_epoch: int
) -> None:
    # epoch 2 and 3 gain 0.0005 and 0.001 (far inside the noise of 2,000 users, SE ~0.0016)
    trainer = _fit(min_gain, [0.0, 0.0005, 0.001])
    scores = [row["valid_ndcg@10"] for row in trainer.history]
    assert trainer.best_score == scores[best_epoch - 1]
    assert trainer.bad_epochs == 3 - best_epoch


def test_a_clear_gain_counts_with_min_gain() -> None:
    trainer = _fit(2.0, [0.0, 0.0005, 0.05])  # the third epoch gains ~30 standard errors
    assert trainer.best_score == trainer.history[2]["valid_ndcg@10"]
    assert trainer.bad_epochs == 0
