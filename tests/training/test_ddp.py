"""Data-parallel training: two real processes under torchrun (gloo) end with identical weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from prismrec.data.dataset import prepare

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
@pytest.mark.slow
def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{int(x)}", t) for u in range(30) for t, x in enumerate(rng.integers(0, 25, 10))
    ]
    p = tmp_path / "e.csv"
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(p)
    prepare(p, tmp_path / "data", "csv")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(WORKER),
        str(tmp_path / "data"),
        str(tmp_path),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=False)
    b = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert a["world"] == b["world"] == 2
    losses = [h["loss"] for h in a["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]  # it really trained
    for (k, x), y in zip(a["state"].items(), b["state"].values(), strict=True):
        assert torch.equal(x, y), k
