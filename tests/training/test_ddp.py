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


def tiny_dataset(tmp_path: Path, seed: int) -> Path:
    """30 users with 10 random events each over 25 items, prepared in ``tmp_path/data``."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{int(x)}", t) for u in range(30) for t, x in enumerate(rng.integers(0, 25, 10))
    ]
    p = tmp_path / "e.csv"
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(p)
    prepare(p, tmp_path / "data", "csv")
    return tmp_path / "data"


@pytest.mark.integration
@pytest.mark.slow
def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    tiny_dataset(tmp_path, seed=0)
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


@pytest.mark.integration
@pytest.mark.slow
def test_two_nodes_on_loopback_train_one_model(tmp_path: Path) -> None:
    """The multi-node recipe of docs/how-to/scale-out.md: one `torchrun --nnodes 2` per node,
    here two on loopback; node 0 (rank 0) writes the model, node 1 nothing."""
    tiny_dataset(tmp_path, seed=1)
    (tmp_path / "tiny.toml").write_text(
        "[model]\nembedding_dim = 16\nn_layers = 1\nn_heads = 1\nn_interests = 2\n\n"
        "[train]\nbatch_size = 8\nthreads = 1\n"
    )
    prismrec = Path(sys.executable).parent / "prismrec"
    port = _free_port()

    def node(rank: int) -> subprocess.Popen[str]:
        launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
        launch += ["--nproc-per-node", "1", "--node-rank", str(rank)]
        launch += ["--rdzv-endpoint", f"127.0.0.1:{port}"]
        train = [str(prismrec), "-v", "train", "--data", str(tmp_path / "data")]
        train += ["--out", str(tmp_path / f"node{rank}"), "--config", str(tmp_path / "tiny.toml")]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.Popen(
            [*launch, *train, "--epochs", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    nodes = [node(1), node(0)]
    logs = [p.communicate(timeout=300)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert "DDP rank 1 of 2" in logs[0] and "DDP rank 0 of 2" in logs[1]
    assert (tmp_path / "node0" / "model.json").is_file()  # rank 0 evaluates and writes
    assert not (tmp_path / "node1").exists()
