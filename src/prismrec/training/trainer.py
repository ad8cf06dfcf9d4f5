"""The training loop: AdamW, warm-up then a plateau-triggered decay (or cosine), clipping,
accumulation, early stopping, resume, DDP.

The trainer knows nothing about recommendation: it gets a module whose ``forward(batch)`` returns
``(loss, stats)``, the training rows, and a ``validate()`` callback returning NDCG@10 and metrics.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prismrec.config import TrainConfig
from prismrec.errors import ConfigError
from prismrec.progress import Tracker, duration, note
from prismrec.training._runtime import (
    TRIM_SECONDS,
    default_threads,
    dist_info,
    maybe_init_distributed,
    module_device,
    release_memory,
    resolve_device,
    seed_everything,
    set_threads,
    start_training,
)
from prismrec.training.windows import TrainingRows

__all__ = [
    "Trainer",
    "clear_gain",
    "default_threads",
    "dist_info",
    "maybe_init_distributed",
    "resolve_device",
    "seed_everything",
    "module_device",
    "release_memory",
    "set_threads",
    "start_training",
]

log = logging.getLogger(__name__)
# validation: (NDCG@10, metrics, per-user NDCG@10 or None)
Validate = Callable[[], tuple[float, dict[str, float], np.ndarray | None]]


def clear_gain(new: np.ndarray, old: np.ndarray, n_se: float) -> bool:
    """Whether per-user scores ``new`` beat ``old`` (the same users) beyond the noise: a
    positive mean difference above ``n_se`` standard errors of the paired difference (with
    fewer than two users, any positive difference)."""
    diff = np.asarray(new, np.float64) - np.asarray(old, np.float64)
    gain = float(diff.mean()) if len(diff) else 0.0
    if len(diff) < 2:
        return gain > 0
    se = float(diff.std(ddof=1)) / math.sqrt(len(diff))
    return gain > 0 and gain > n_se * se


class Trainer:
    """Fits ``module`` on ``windows``; early-stops on validation NDCG@10.

    Args:
        module: returns ``(loss, stats)`` from ``forward(batch)``.
        windows: training rows (:class:`~prismrec.training.windows.Windows`, or BPR's pairs).
        config: training settings.
        validate: callback computing ``(ndcg@10, metrics)`` on the validation split.
        checkpoint_dir: where ``last.pt`` is written after each epoch (for resume).
        device: where the module and the batches live (None: the CPU).
    """

    def __init__(
        self,
        module: nn.Module,
        windows: TrainingRows,
        config: TrainConfig,
        validate: Validate | None = None,
        checkpoint_dir: Path | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.module = module
        self.windows = windows
        self.cfg = config
        self.validate = validate
        self.checkpoint_dir = checkpoint_dir
        self.rank, self.world = dist_info()
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.best_score = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        # the plateau schedule's decay once begun: (first update, updates, last epoch)
        self.decay: tuple[int, int, int] | None = None
        self.seconds_to_best = self.cpu_seconds_to_best = 0.0
        self._elapsed = self._cpu = 0.0
        # per-user validation NDCG@10 of the best epoch and of the latest (rank 0)
        self._best_users: np.ndarray | None = None
        self._last_users: np.ndarray | None = None
        self._setup_done = False

    # ---- setup -------------------------------------------------------------------------------
    def _setup(self) -> None:
        if self._setup_done:
            return
        self.module.to(self.device)
        self.model: nn.Module = self.module
        if self.world > 1:
            gpu = [self.device] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(
                self.module, device_ids=gpu, find_unused_parameters=True
            )
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in self.module.named_parameters():
            (no_decay if p.ndim < 2 or "norm" in name or "ln" in name else decay).append(p)
        self.optim = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.cfg.learning_rate,
        )
        steps = self.updates_per_epoch() * self.cfg.epochs
        warm = max(1, int(self.cfg.warmup_ratio * steps))

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if self.decay is not None:  # the plateau schedule's decay: linear to zero
                start, length = self.decay[0], self.decay[1]
                return max(0.0, 1.0 - (step - start) / max(1, length))
            if self.cfg.schedule == "plateau":
                return 1.0
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.optim, schedule)
        # the moving average of the weights (``ema_epochs``), updated after every update
        self._ema_params = [p for p in self.module.parameters() if p.requires_grad]
        self.ema: list[torch.Tensor] | None = None
        self.ema_updates = 0
        # decay 1 - 1/(ema_epochs x updates per epoch)
        updates = self.cfg.ema_epochs * self.updates_per_epoch()
        self._ema_decay = 1.0 - 1.0 / max(1.0, updates)
        if self.cfg.ema_epochs > 0:
            self.ema = [p.detach().clone() for p in self._ema_params]
        self.writer = None
        if self.cfg.tensorboard and self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError(
                    "train.tensorboard is set but TensorBoard is not installed; "
                    "pip install tensorboard"
                ) from None
            self.writer = SummaryWriter(self.cfg.tensorboard)
        self._setup_done = True

    def updates_per_epoch(self) -> int:
        """Optimiser updates per epoch (``grad_accum`` steps make one)."""
        return math.ceil(self.steps_per_epoch() / self.cfg.grad_accum)

    def steps_per_epoch(self) -> int:
        rows = len(self.windows) // self.world
        return max(1, math.ceil(rows / self.cfg.batch_size))

    def _rows(self) -> np.ndarray:
        """This rank's rows for the epoch: one shared seeded permutation, split by rank."""
        rng = np.random.default_rng(self.cfg.seed + 1000 * self.epoch)
        perm = rng.permutation(len(self.windows))
        per = len(perm) // self.world
        return perm[self.rank * per : (self.rank + 1) * per] if self.world > 1 else perm

    # ---- one epoch ---------------------------------------------------------------------------
    def train_epoch(self) -> dict[str, float]:
        """One pass over the training rows; returns mean loss and stats."""
        self._setup()
        self.model.train()
        totals: dict[str, float] = {}
        n = 0
        steps = self.steps_per_epoch()
        # in-epoch progress: a bar on a terminal, else a line a minute (only on rank 0)
        bar = Tracker(f"epoch {self.epoch + 1} batches", steps, "batch", every=60.0)
        if self.rank != 0:
            bar.close()
        self.optim.zero_grad(set_to_none=True)
        trimmed = time.perf_counter()
        for i, batch in enumerate(self.windows.batches(self.cfg.batch_size, None, self._rows())):
            # on the CPU a no-op: one code path for every device
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            loss, stats = self.model(batch)
            (loss / self.cfg.grad_accum).backward()
            if (i + 1) % self.cfg.grad_accum == 0 or i + 1 == steps:
                if self.cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.grad_clip)
                self.optim.step()
                self.sched.step()
                self._ema_update()
                self.optim.zero_grad(set_to_none=True)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += 1
            bar.advance()
            if time.perf_counter() - trimmed > TRIM_SECONDS:  # a long epoch's holes, too
                release_memory()
                trimmed = time.perf_counter()
        bar.close()
        return {k: v / max(n, 1) for k, v in totals.items()}

    def _ema_update(self) -> None:
        """Move the average a step towards the weights: decay 1 - 1/(ema_epochs x updates
        per epoch), lower over the first updates (as TensorFlow's ``num_updates``), so the
        average soon leaves the initial weights behind."""
        if self.ema is None:
            return
        self.ema_updates += 1
        decay = min(self._ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        with torch.no_grad():
            for avg, p in zip(self.ema, self._ema_params, strict=True):
                avg.lerp_(p.detach(), 1.0 - decay)

    def _swap_ema(self) -> None:
        """Exchange the weights and their moving average (twice: back as before)."""
        if self.ema is None:
            return
        with torch.no_grad():
            for avg, p in zip(self.ema, self._ema_params, strict=True):
                raw = p.detach().clone()
                p.copy_(avg)
                avg.copy_(raw)

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> list[dict[str, float]]:
        """Train until ``epochs`` or early stopping; restores the best weights at the end."""
        self._setup()
        if resume:
            self._resume()
        while self.epoch < self.cfg.epochs and not self._done():
            t0, c0 = time.perf_counter(), time.process_time()
            row = {"epoch": float(self.epoch + 1), **self.train_epoch()}
            row["train_seconds"] = time.perf_counter() - t0
            if self.validate is not None and (self.epoch + 1) % self.cfg.eval_every == 0:
                t1 = time.perf_counter()
                self._swap_ema()  # validate (and keep, if best) the averaged weights
                score, metrics, better = self._validate()
                row["valid_seconds"] = time.perf_counter() - t1
                # wall time includes validation, as RecBole's time to best does
                self._elapsed += time.perf_counter() - t0
                self._cpu += time.process_time() - c0
                row.update({f"valid_{k}": v for k, v in metrics.items()})
                if better:
                    self.best_score, self.bad_epochs = score, 0
                    self._best_users = self._last_users
                    self.best_state = copy.deepcopy(self.module.state_dict())
                    self.seconds_to_best = self._elapsed
                    self.cpu_seconds_to_best = self._cpu
                else:
                    self.bad_epochs += 1
                self._swap_ema()
            else:
                self._elapsed += time.perf_counter() - t0
                self._cpu += time.process_time() - c0
            # wall seconds so far, and this process's CPU seconds (all threads): on a busy
            # machine the second says what the work cost
            row["seconds"], row["cpu_seconds"] = self._elapsed, self._cpu
            release_memory()
            self.history.append(row)
            self._log(row)
            self.epoch += 1
            self._maybe_decay()
            self._checkpoint()
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        elif self.ema is not None:  # no validation: the average is the model
            self._swap_ema()
            self.ema = None
        return self.history

    def _done(self) -> bool:
        """Training is over: the plateau schedule's decay has run its course, or (cosine)
        ``patience`` epochs passed without a better validation score."""
        if self.cfg.schedule == "plateau":
            return self.decay is not None and self.epoch >= self.decay[2]
        return self.bad_epochs >= self.cfg.patience

    def _maybe_decay(self) -> None:
        """The plateau schedule: after ``patience`` epochs without a gain, go back to the best
        weights and decay the learning rate linearly to zero over ``cooldown`` of the epochs
        so far (at least 2, at most what ``epochs`` leaves). It begins at the latest when
        that length reaches ``epochs``, about the last ``cooldown / (1 + cooldown)`` of them
        (always so without validation), so every run ends annealed."""
        cfg = self.cfg
        if cfg.schedule != "plateau" or self.decay is not None:
            return
        validated = self.validate is not None and self.best_state is not None
        epochs = max(2, math.ceil(cfg.cooldown * self.epoch))
        late = self.epoch + epochs >= cfg.epochs  # the decay must end by ``epochs``
        if not late and not (validated and self.bad_epochs >= cfg.patience):
            return
        epochs = min(epochs, cfg.epochs - self.epoch)
        if epochs <= 0:
            return
        if validated:
            assert self.best_state is not None
            self.module.load_state_dict(self.best_state)
            if self.ema is not None:  # the average starts again from the best weights
                self.ema = [p.detach().clone() for p in self._ema_params]
            self.bad_epochs = 0
        updates = epochs * self.updates_per_epoch()
        self.decay = (self.sched.last_epoch, updates, self.epoch + epochs)
        if self.rank == 0:
            best = self._best_epoch()
            start = f"the best weights (epoch {best})" if validated and best else "here"
            note(f"learning rate: linear decay to zero over {epochs} epochs from {start}")

    def _best_epoch(self) -> int | None:
        """The epoch whose weights are the best so far (None: none validated)."""
        best = [
            int(r["epoch"])
            for r in self.history
            if r.get("valid_ndcg@10") is not None and r["valid_ndcg@10"] == self.best_score
        ]
        return best[-1] if best else None

    def _validate(self) -> tuple[float, dict[str, float], bool]:
        """(NDCG@10, metrics, whether this epoch is the new best), the same on every rank."""
        assert self.validate is not None
        self.module.eval()
        score, better = 0.0, False
        metrics: dict[str, float] = {}
        if self.rank == 0:
            score, metrics, self._last_users = self.validate()
            better = self._better(score, self._last_users)
        if self.world > 1:  # every rank takes the same early-stopping decision
            t = torch.tensor([score, float(better)])
            torch.distributed.broadcast(t, 0)
            score, better = float(t[0]), bool(t[1] > 0.5)
        return score, metrics, better

    def _better(self, score: float, per_user: np.ndarray | None) -> bool:
        """A new best: above the best so far, and with ``min_gain`` > 0 by more than that
        many standard errors of the per-user difference (a gain inside the noise of the
        validation users is no gain: the earlier weights stay, and patience runs down)."""
        if score <= self.best_score:
            return False
        best = self._best_users
        if self.cfg.min_gain <= 0 or per_user is None or best is None or len(per_user) < 2:
            return True
        return clear_gain(per_user, best, self.cfg.min_gain)

    def _log(self, row: dict[str, float]) -> None:
        if self.rank != 0:
            return
        text = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch")
        log.info("epoch %d: %s", int(row["epoch"]), text)
        note(self._summary(row))
        if self.writer is not None:
            for k, v in row.items():
                self.writer.add_scalar(k, v, int(row["epoch"]))

    def _summary(self, row: dict[str, float]) -> str:
        """The epoch's progress line: loss, validation score, time so far and at most left."""
        epoch = int(row["epoch"])
        total = self.cfg.epochs if self.decay is None else self.decay[2]
        parts = [f"epoch {epoch}/{total}: loss {row.get('loss', float('nan')):.4f}"]
        if "valid_ndcg@10" in row:
            best = " (best)" if self.bad_epochs == 0 else ""
            parts.append(f"valid ndcg@10 {row['valid_ndcg@10']:.4f}{best}")
        parts.append(duration(row["seconds"]))
        left = total - epoch  # early stopping may end sooner: this is the most that is left
        if left > 0:
            parts.append(f"at most ~{duration(row['seconds'] / epoch * left)} left")
        return ", ".join(parts)

    # ---- checkpoints -------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        if self.checkpoint_dir is None or self.rank != 0:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "module": self.module.state_dict(),
            "optim": self.optim.state_dict(),
            "sched": self.sched.state_dict(),
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "elapsed": self._elapsed,
            "seconds_to_best": self.seconds_to_best,
            "cpu": self._cpu,
            "best_users": None if self._best_users is None else torch.from_numpy(self._best_users),
            "cpu_seconds_to_best": self.cpu_seconds_to_best,
            "torch_rng": torch.get_rng_state(),
            "ema": self.ema,
            "ema_updates": self.ema_updates,
            "decay": self.decay,
        }
        tmp = self.checkpoint_dir / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_dir / "last.pt")  # atomic: a crash leaves the old file

    def _resume(self) -> None:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / "last.pt").is_file():
            return
        state: dict[str, Any] = torch.load(
            self.checkpoint_dir / "last.pt", weights_only=True, map_location=self.device
        )
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_state, self.bad_epochs = state["best_state"], state["bad_epochs"]
        self.history, self._elapsed = state["history"], state["elapsed"]
        self.seconds_to_best = state["seconds_to_best"]
        self._cpu = state.get("cpu", 0.0)  # absent from checkpoints written before
        users = state.get("best_users")
        self._best_users = None if users is None else users.numpy()
        self.cpu_seconds_to_best = state.get("cpu_seconds_to_best", 0.0)
        torch.set_rng_state(state["torch_rng"].cpu())
        decay = state.get("decay")  # absent from checkpoints written before
        self.decay = None if decay is None else (int(decay[0]), int(decay[1]), int(decay[2]))
        if self.ema is not None and state.get("ema") is not None:
            self.ema, self.ema_updates = state["ema"], state["ema_updates"]
        log.info("resumed from %s at epoch %d", self.checkpoint_dir, self.epoch)
