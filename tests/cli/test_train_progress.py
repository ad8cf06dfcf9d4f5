"""``train`` as cron or a log sees it: stdout to a pipe, one line per epoch on stderr, and
``--device`` through the code that moves tensors to a device."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prismrec.config import TrainConfig
from prismrec.errors import ConfigError
from prismrec.training.trainer import default_threads, resolve_device, start_training

EXE = Path(sys.executable).parent / "prismrec"
SMALL = "[model]\nembedding_dim = 8\nn_layers = 1\nn_heads = 1\nn_interests = 2\n"


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    # stdout and stderr are pipes, as under cron, nohup or a CI log
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.conftest import TINY_CSV

    d = tmp_path_factory.mktemp("progress")
    (d / "events.csv").write_text(TINY_CSV)
    (d / "c.toml").write_text(SMALL + "[train]\nbatch_size = 2\n")
    r = _cli("data", "prepare", d / "events.csv", "--out", d / "data")
    assert r.returncode == 0, r.stderr
    return d / "data", d / "c.toml"


def test_train_to_a_pipe_prints_a_line_per_epoch(prepared, tmp_path: Path) -> None:
    data, cfg = prepared
    r = _cli("train", "--data", data, "--config", cfg, "--epochs", "3", "--out", tmp_path / "m",
             "--device", "auto")  # fmt: skip
    assert r.returncode == 0, r.stderr
    epochs = [line for line in r.stderr.splitlines() if line.startswith("epoch ")]
    assert [e.split(":")[0] for e in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "loss " in epochs[0] and "valid ndcg@10 " in epochs[0] and "left" in epochs[0]
    assert "left" not in epochs[-1]  # nothing is left after the last epoch
    assert "model saved" in r.stdout


def test_quiet_train_prints_no_progress(prepared, tmp_path: Path) -> None:
    data, cfg = prepared
    r = _cli("--quiet", "train", "--data", data, "--config", cfg, "--epochs", "1",
             "--out", tmp_path / "m", "--device", "cpu")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "epoch" not in r.stderr and "model saved" in r.stdout


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "device"), pytest.param("cuda:0", "no GPU", id="cuda-without-gpu")],
)
def test_a_device_that_is_not_there_is_a_clean_error(
    prepared, tmp_path: Path, device: str, message: str
) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    data, cfg = prepared
    r = _cli("train", "--data", data, "--config", cfg, "--epochs", "1", "--out", tmp_path / "m",
             "--device", device)  # fmt: skip
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr


def test_auto_is_the_cpu_here_and_threads_default_to_the_cores() -> None:
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no GPU"):
            resolve_device("cuda")
    before = torch.get_num_threads()
    try:
        assert TrainConfig().threads == 0 and TrainConfig().device == "auto"
        device = start_training(TrainConfig())
        assert device.type == want and torch.get_num_threads() == default_threads()
    finally:
        torch.set_num_threads(before)
