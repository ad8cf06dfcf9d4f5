"""Where and how a training run executes: device, threads, seeds, the ``torchrun`` process
group, and handing freed memory back. Re-exported by :mod:`prismrec.training.trainer`."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from prismrec.config import TrainConfig
from prismrec.errors import ConfigError

__all__ = [
    "TRIM_SECONDS",
    "default_threads",
    "dist_info",
    "maybe_init_distributed",
    "module_device",
    "release_memory",
    "resolve_device",
    "seed_everything",
    "set_threads",
    "start_training",
]

# named as the trainer, which re-exports these: log lines keep the module name users know
log = logging.getLogger("prismrec.training.trainer")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(spec: str) -> torch.device:
    """The device ``[train] device`` names: ``auto`` is the first GPU when torch sees one,
    else the CPU; under ``torchrun`` a GPU process takes the GPU of its ``LOCAL_RANK``.

    Raises:
        ConfigError: a GPU was asked for and torch sees none (or not that one).
    """
    import os

    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"train.device is {spec!r} but torch sees no GPU (torch {torch.__version__}, CUDA "
            f"{torch.version.cuda or 'not built in'}); use device = 'auto' or 'cpu'"
        )
    index = int(spec.split(":", 1)[1]) if ":" in spec else None
    if index is None:
        index = int(os.environ.get("LOCAL_RANK", "0"))
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"train.device asks for GPU {index} but torch sees {torch.cuda.device_count()}"
        )
    return torch.device("cuda", index)


def default_threads() -> int:
    """The CPU cores this process may use (its affinity mask: what a container allows)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (0: :func:`default_threads`); returns the number set."""
    n = threads or default_threads()
    torch.set_num_threads(n)
    return n


TRIM_SECONDS = 10.0
"""Inside an epoch, the heap is trimmed (``release_memory``) at most this often."""


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere a
    no-op). The training steps allocate tensors whose sizes change with every batch, and
    glibc keeps the freed holes resident: without this the resident memory of a long run
    creeps up to several times one step's working set."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs a subprocess), or
    None where there is no such function."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to do
        return None


def start_training(cfg: TrainConfig) -> torch.device:
    """What every trainable model does first: pick the device, join ``torchrun``'s process
    group, seed everything and set the CPU threads. Returns the device to train on."""
    device = resolve_device(cfg.device)
    maybe_init_distributed(device)
    seed_everything(cfg.seed)
    threads = set_threads(cfg.threads)
    log.info("training on %s with %d CPU thread(s)", device, threads)
    return device


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU when it has none)."""
    return next(iter(module.parameters()), torch.empty(0)).device


def maybe_init_distributed(device: torch.device | None = None) -> None:
    """Join the process group when launched by ``torchrun``: NCCL between GPUs, else gloo."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
        log.info("DDP rank %d of %d (%s)", *dist_info(), backend)


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not running under torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
