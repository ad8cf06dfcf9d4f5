"""The training loop: AdamW, warmup + cosine, clipping, accumulation, early stopping, resume, DDP.

The trainer knows nothing about recommendation: it gets a module whose ``forward(batch)`` returns
``(loss, stats)``, the training rows, and a ``validate()`` callback returning NDCG@10 and metrics.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from prismrec.config import TrainConfig
from prismrec.errors import ConfigError
from prismrec.training.windows import Windows

__all__ = ["Trainer", "dist_info", "maybe_init_distributed", "seed_everything"]

log = logging.getLogger(__name__)
Validate = Callable[[], tuple[float, dict[str, float]]]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def maybe_init_distributed() -> None:
    """Join the process group when launched by ``torchrun`` (CPU: the gloo backend)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
        log.info("DDP rank %d of %d", *dist_info())


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not running under torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class Trainer:
    """Fits ``module`` on ``windows``; early-stops on validation NDCG@10.

    Args:
        module: returns ``(loss, stats)`` from ``forward(batch)``.
        windows: training rows.
        config: training settings.
        validate: callback computing ``(ndcg@10, metrics)`` on the validation split.
        checkpoint_dir: where ``last.pt`` is written after each epoch (for resume).
    """

    def __init__(
        self,
        module: nn.Module,
        windows: Windows,
        config: TrainConfig,
        validate: Validate | None = None,
        checkpoint_dir: Path | None = None,
    ) -> None:
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
        self.seconds_to_best = 0.0
        self._elapsed = 0.0
        self._setup_done = False

    # ---- setup -------------------------------------------------------------------------------
    def _setup(self) -> None:
        if self._setup_done:
            return
        self.model: nn.Module = self.module
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.module, find_unused_parameters=True
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
        steps = self.steps_per_epoch() * self.cfg.epochs // self.cfg.grad_accum
        warm = max(1, int(self.cfg.warmup_ratio * steps))

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.optim, schedule)
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
        bar = tqdm(
            self.windows.batches(self.cfg.batch_size, None, self._rows()),
            total=self.steps_per_epoch(),
            desc=f"epoch {self.epoch + 1}",
            leave=False,
            disable=None if self.rank == 0 else True,
        )
        self.optim.zero_grad(set_to_none=True)
        for i, batch in enumerate(bar):
            loss, stats = self.model(batch)
            (loss / self.cfg.grad_accum).backward()
            if (i + 1) % self.cfg.grad_accum == 0 or i + 1 == self.steps_per_epoch():
                if self.cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.grad_clip)
                self.optim.step()
                self.sched.step()
                self.optim.zero_grad(set_to_none=True)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += 1
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        return {k: v / max(n, 1) for k, v in totals.items()}

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> list[dict[str, float]]:
        """Train until ``epochs`` or early stopping; restores the best weights at the end."""
        self._setup()
        if resume:
            self._resume()
        while self.epoch < self.cfg.epochs and self.bad_epochs < self.cfg.patience:
            t0 = time.perf_counter()
            row = {"epoch": float(self.epoch + 1), **self.train_epoch()}
            if self.validate is not None and (self.epoch + 1) % self.cfg.eval_every == 0:
                score, metrics = self._validate()
                # wall time includes validation, as RecBole's time to best does
                self._elapsed += time.perf_counter() - t0
                row.update({f"valid_{k}": v for k, v in metrics.items()})
                if score > self.best_score:
                    self.best_score, self.bad_epochs = score, 0
                    self.best_state = copy.deepcopy(self.module.state_dict())
                    self.seconds_to_best = self._elapsed
                else:
                    self.bad_epochs += 1
            else:
                self._elapsed += time.perf_counter() - t0
            row["seconds"] = self._elapsed
            self.history.append(row)
            self._log(row)
            self.epoch += 1
            self._checkpoint()
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        return self.history

    def _validate(self) -> tuple[float, dict[str, float]]:
        assert self.validate is not None
        self.module.eval()
        score, metrics = self.validate() if self.rank == 0 else (0.0, {})
        if self.world > 1:  # every rank takes the same early-stopping decision
            t = torch.tensor([score])
            torch.distributed.broadcast(t, 0)
            score = float(t.item())
        return score, metrics

    def _log(self, row: dict[str, float]) -> None:
        if self.rank != 0:
            return
        text = " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch")
        log.info("epoch %d: %s", int(row["epoch"]), text)
        if self.writer is not None:
            for k, v in row.items():
                self.writer.add_scalar(k, v, int(row["epoch"]))

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
            "torch_rng": torch.get_rng_state(),
        }
        tmp = self.checkpoint_dir / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.checkpoint_dir / "last.pt")  # atomic: a crash leaves the old file

    def _resume(self) -> None:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / "last.pt").is_file():
            return
        state: dict[str, Any] = torch.load(self.checkpoint_dir / "last.pt", weights_only=True)
        self.module.load_state_dict(state["module"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_state, self.bad_epochs = state["best_state"], state["bad_epochs"]
        self.history, self._elapsed = state["history"], state["elapsed"]
        self.seconds_to_best = state["seconds_to_best"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at epoch %d", self.checkpoint_dir, self.epoch)
