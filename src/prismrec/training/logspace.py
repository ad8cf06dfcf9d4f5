"""Log-space sums over a catalogue: the numerics the scorer and the quota merge share."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LARGE_LSE", "log_sum_exp", "log_weights"]

LARGE_LSE = 1 << 20
"""Arrays of at least this many entries take torch's multi-threaded ``logsumexp``; smaller
ones (a request's candidates) the lean numpy form, where torch's per-call cost dominates."""


def log_sum_exp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log sum exp`` along ``axis`` (``-inf`` entries allowed), in ``x``'s precision.

    The lean form of scipy's for the per-request path, where scipy's checks cost more than the
    sum; a whole catalogue for a batch of users (validation, ``recommend``) goes to torch.
    """
    if x.size >= LARGE_LSE:
        return torch.logsumexp(torch.from_numpy(x), dim=axis).numpy()
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
    return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis=axis)


def log_weights(weights: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``log w`` of mixture weights, floored at ``1e-12`` (a zero weight stays finite)."""
    return np.log(np.clip(np.asarray(weights, np.float64), 1e-12, None)).astype(dtype)
