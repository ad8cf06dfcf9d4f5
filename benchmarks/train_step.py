"""Time of one prism training step on ml-100k, this code against the slower ways it replaced.

Builds the default prism model on ``ml-100k-recbole`` (RecBole's leave-one-out split, the batches
of one epoch) and times forward + backward + AdamW step, interleaving the variants so load on the
machine hits them alike:

- ``current``: the step as trained (uniform-draw dropout, sparse repeat bias);
- ``nn.Dropout``: PyTorch's dropout modules in place of ``models.dropout.Dropout``;
- ``dense repeat bias``: the repeat bias built as an (M, N+1) tensor and broadcast over the
  interests, as before.

Prints the median milliseconds per step and the ratio to ``current``.

Run: .venv/bin/python benchmarks/train_step.py [--rounds 5] [--steps 6]
Writes benchmarks/results/train_step.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table
from torch import nn

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import prepare
from prismrec.models.dropout import Dropout
from prismrec.models.repeat import RepeatBias
from prismrec.training import PrismRecommender
from prismrec.training import prism as prism_module
from prismrec.training.losses import mixture_ce_loss
from prismrec.training.prism import TrainStep
from prismrec.training.windows import build_windows

VARIANTS = ("current", "nn.Dropout", "dense repeat bias")


def _dense_bias_loss(*args: Any, **kwargs: Any) -> torch.Tensor:
    """``mixture_ce_loss`` with the sparse repeat bias first made the dense (M, N+1) tensor."""
    interests, weights, items, target, candidates, bias, low = args
    if isinstance(bias, tuple):
        bias = RepeatBias.dense(*bias, items.shape[0])
    return mixture_ce_loss(interests, weights, items, target, candidates, bias, low, **kwargs)


def _steps(variant: str, steps: int, batches: list[Any], parts: dict[str, Any]) -> float:
    """Median seconds per step of ``steps`` steps."""
    step = parts[variant]
    opt = parts["opt"][variant]
    times = []
    prism_module.mixture_ce_loss = (
        _dense_bias_loss if variant == "dense repeat bias" else mixture_ce_loss
    )
    try:
        for b in batches[:steps]:
            t0 = time.perf_counter()
            loss, _ = step(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
    finally:
        prism_module.mixture_ce_loss = mixture_ce_loss
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant")
    ap.add_argument("--steps", type=int, default=6, help="steps per round")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ds = prepare(DATA / "ml-100k-recbole", Path(tmp), "recbole")
        parts: dict[str, Any] = {"opt": {}}
        batches = None
        for variant in VARIANTS:
            torch.manual_seed(0)
            m = PrismRecommender(ModelConfig(cooc_weight=0.0), TrainConfig())
            m.build_net(ds)
            if variant == "nn.Dropout":
                _swap_dropout(m.net)
            cols = ("item_idx", *m.feature_sizes)
            frame = ds.split_frame("valid")
            counts = np.bincount(frame.get_column("item_idx").to_numpy(), minlength=ds.n_items + 1)
            freq = torch.as_tensor(counts / counts.sum(), dtype=torch.float32)
            attrs = {k: torch.as_tensor(v) for k, v in m.user_attr_arrays.items()}
            parts[variant] = TrainStep(m.net, m.train_config, "mixture", cols, attrs, freq)
            parts["opt"][variant] = torch.optim.AdamW(m.net.parameters(), lr=1e-3)
            if batches is None:
                w = build_windows(frame, cols, m.seq_len, None)
                batches = list(w.batches(128, None, np.arange(len(w))))
        assert batches is not None
        for variant in VARIANTS:  # warm-up
            _steps(variant, 2, batches, parts)
        samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for variant in VARIANTS:
                samples[variant].append(_steps(variant, args.steps, batches, parts))
    med = {v: statistics.median(s) * 1000 for v, s in samples.items()}
    t = Table(title="prism training step on ml-100k (batch 128, K=4, one thread): median ms")
    for c in ("variant", "ms / step", "x current"):
        t.add_column(c, justify="right")
    for v in VARIANTS:
        t.add_row(v, f"{med[v]:.0f}", f"{med[v] / med['current']:.2f}")
    Console(width=120).print(t)
    out = {
        "rounds": args.rounds,
        "steps": args.steps,
        "ms_per_step": med,
        "ratio_to_current": {v: med[v] / med["current"] for v in VARIANTS},
        "samples_ms": {v: [x * 1000 for x in s] for v, s in samples.items()},
    }
    print(f"wrote {write_result('train_step', out)}")


def _swap_dropout(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, Dropout):
            setattr(module, name, nn.Dropout(child.p))
        else:
            _swap_dropout(child)


if __name__ == "__main__":
    main()
