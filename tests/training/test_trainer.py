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


def test_ema_validates_and_keeps_the_moving_average_of_the_weights() -> None:
    """``ema_epochs``: validation sees, and the best state keeps, the average of the weights
    after each update (decay 1 - 1/(ema_epochs x steps), lower over the first updates), while
    training goes on from the raw weights."""
    torch.manual_seed(0)
    step = _Step()
    init = [p.detach().clone() for p in step.parameters()]
    seen: list[list[torch.Tensor]] = []

    def validate() -> tuple[float, dict[str, float], None]:
        seen.append([p.detach().clone() for p in step.parameters()])
        return 0.1 * len(seen), {}, None  # each epoch better: the last one is kept

    cfg = TrainConfig(epochs=3, ema_epochs=2.0, warmup_ratio=0.0, learning_rate=0.1)
    trainer = Trainer(step, _Rows(), cfg, validate)  # type: ignore[arg-type]
    raw: list[list[torch.Tensor]] = []
    real_step = trainer.train_epoch

    def epoch() -> dict[str, float]:
        out = real_step()
        raw.append([p.detach().clone() for p in step.parameters()])
        return out

    trainer.train_epoch = epoch  # type: ignore[method-assign]
    trainer.fit(resume=False)
    # one update per epoch: decay min(1 - 1/2, (1 + n) / (10 + n)) at update n = 1, 2, 3
    avg = init
    for n, weights in enumerate(raw, start=1):
        d = min(0.5, (1 + n) / (10 + n))
        avg = [a + (1 - d) * (w - a) for a, w in zip(avg, weights, strict=True)]
        assert all(torch.allclose(s, a) for s, a in zip(seen[n - 1], avg, strict=True))
        assert not all(torch.allclose(s, w) for s, w in zip(seen[n - 1], weights, strict=True))
    # the model ends with the best epoch's average, not its raw weights
    assert all(torch.allclose(p, a) for p, a in zip(step.parameters(), avg, strict=True))


class _Recording(_Step):
    """Records the weights and the learning rate each epoch's (single) batch trains with."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[torch.Tensor] = []
        self.rates: list[float] = []
        self.trainer: Trainer | None = None

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self.weights.append(self.w.weight.detach().clone())
        assert self.trainer is not None
        self.rates.append(self.trainer.optim.param_groups[0]["lr"])
        return super().forward(batch)


def _scripted(scores: list[float] | None, **cfg: object) -> tuple[Trainer, _Recording]:
    """Train with validation scores read from ``scores`` (None: no validation)."""
    step = _Recording()
    seen: list[torch.Tensor] = []
    it = iter(scores or [])

    def validate() -> tuple[float, dict[str, float], None]:
        seen.append(step.w.weight.detach().clone())
        score = next(it)
        return score, {"ndcg@10": score}, None

    config = TrainConfig(warmup_ratio=0.0, ema_epochs=0.0, learning_rate=0.1, **cfg)  # type: ignore[arg-type]
    trainer = Trainer(step, _Rows(), config, validate if scores else None)  # type: ignore[arg-type]
    step.trainer = trainer
    trainer.fit(resume=False)
    step.validated = seen  # type: ignore[attr-defined]
    return trainer, step


def test_plateau_decays_from_the_best_weights_after_patience_epochs() -> None:
    """Epochs 4 and 5 do not beat epoch 3: with patience 2 the weights go back to epoch 3's and
    the rate falls linearly to zero over max(2, ceil(0.25 x 5)) = 2 epochs, then training
    stops (40 epochs allowed)."""
    scores = [0.1, 0.2, 0.3, 0.25, 0.24, 0.31, 0.32, 0.0, 0.0]
    trainer, step = _scripted(scores, epochs=40, patience=2, cooldown=0.25)
    assert len(trainer.history) == 7
    assert trainer.decay == (5, 2, 7)
    # epoch 6 trains from the weights validated at epoch 3, not from epoch 5's
    assert torch.equal(step.weights[5], step.validated[2])  # type: ignore[attr-defined]
    assert not torch.equal(step.weights[5], step.validated[4])  # type: ignore[attr-defined]
    # constant before, then linear towards zero
    assert step.rates[:5] == pytest.approx([0.1] * 5)
    assert step.rates[5:] == pytest.approx([0.1, 0.05])
    assert trainer.best_score == 0.32  # the decay's last epoch is the best, and kept
    assert torch.equal(step.w.weight, step.validated[6])  # type: ignore[attr-defined]


@pytest.mark.parametrize("scores", [None, [0.1 * e for e in range(1, 11)]])
def test_plateau_without_a_plateau_decays_over_the_last_epochs(
    scores: list[float] | None,
) -> None:
    """No validation, or a score that never stops rising: the decay takes the last
    cooldown / (1 + cooldown) of the epochs, so the run still ends annealed."""
    trainer, step = _scripted(scores, epochs=10, cooldown=0.25)
    assert len(trainer.history) == 10
    assert step.rates == pytest.approx([0.1] * 8 + [0.1, 0.05])
    # two epochs: the second is the decay
    trainer, step = _scripted(None, epochs=2)
    assert trainer.decay == (1, 1, 2)


def test_cosine_stops_after_patience_epochs_without_a_gain() -> None:
    trainer, step = _scripted([0.3, 0.2, 0.1, 0.4], epochs=10, patience=2, schedule="cosine")
    assert len(trainer.history) == 3
    assert trainer.decay is None
    assert step.rates[2] < step.rates[1]  # cosine decays after the (one-update) warm-up
