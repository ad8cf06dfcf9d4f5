"""Run by tests/training/test_ddp.py under torchrun: train tiny data, dump this rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from prismrec.config import ModelConfig, TrainConfig
from prismrec.data.dataset import PreparedDataset
from prismrec.training import PrismRecommender
from prismrec.training.trainer import dist_info


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    ds = PreparedDataset.load(data)
    model = ModelConfig(embedding_dim=16, n_layers=1, n_heads=1, n_interests=2)
    train = TrainConfig(epochs=3, batch_size=8, patience=3)
    rec = PrismRecommender(model, train).fit(ds)
    rank, world = dist_info()
    torch.save(
        {"world": world, "state": rec.net.state_dict(), "history": rec.history},
        out / f"rank{rank}.pt",
    )


if __name__ == "__main__":
    main()
