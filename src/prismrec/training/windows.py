"""Training windows: every target of every user's sequence once per epoch, all positions at once.

A user's training sequence of ``n`` events has ``n - 1`` next-item targets. They are cut, from
the newest backwards, into chunks of ``L`` targets; each chunk is one row whose inputs are the
``L`` events before its targets. Rows are built with array indexing, not Python loops over events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl
import torch

__all__ = ["TrainingRows", "Windows", "build_windows", "pad_histories", "targets_share"]


class TrainingRows(Protocol):
    """What the trainer iterates over: rows, and mini-batches of tensors of chosen rows."""

    def __len__(self) -> int: ...

    def batches(
        self, batch_size: int, rng: np.random.Generator | None, rows: np.ndarray | None = None
    ) -> Iterator[dict[str, torch.Tensor]]: ...


@dataclass
class Windows:
    """Padded training rows: inputs (W, L) per feature, next-item targets (W, L), users (W,),
    and, with a future window, the items after the next one (W, L, F) (0: none)."""

    inputs: dict[str, np.ndarray]
    targets: np.ndarray
    target_events: np.ndarray
    users: np.ndarray
    future: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)

    def batches(
        self, batch_size: int, rng: np.random.Generator | None, rows: np.ndarray | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled (when ``rng``) mini-batches of tensors; ``rows`` restricts to a subset."""
        idx = np.arange(len(self)) if rows is None else rows
        if rng is not None:
            idx = rng.permutation(idx)
        for start in range(0, len(idx), batch_size):
            b = idx[start : start + batch_size]
            out = {k: torch.from_numpy(v[b]) for k, v in self.inputs.items()}
            out["target"] = torch.from_numpy(self.targets[b])
            out["target_event"] = torch.from_numpy(self.target_events[b])
            out["user_idx"] = torch.from_numpy(self.users[b])
            if self.future is not None:
                out["future"] = torch.from_numpy(self.future[b].astype(np.int64))
            yield out


def build_windows(
    frame: pl.DataFrame,
    columns: tuple[str, ...],
    max_seq_len: int,
    stride: int | None = None,
    future: int = 0,
) -> Windows:
    """Rows from a (user_idx, pos)-sorted frame of training events.

    With ``stride < max_seq_len`` targets are cut into chunks of ``stride`` and each row keeps
    ``max_seq_len`` events of context before its chunk; only the chunk's targets are labelled,
    so every target still counts once per epoch, but with a longer history.

    ``future`` > 0 also gives each labelled position the ``future`` items that follow its
    next item in the user's sequence (the future set a multi-interest model is trained to
    cover; fewer near the end of a sequence).
    """
    L = max_seq_len
    S = min(stride or L, L)
    f = frame.sort("user_idx", "pos")
    users = f.get_column("user_idx").to_numpy()
    n = len(users)
    cols = {c: f.get_column(c).to_numpy().astype(np.int64) for c in columns}
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n] if n else np.zeros(0, np.int64)  # exclusive
    # target positions t run over start+1 .. end-1; chunk them from the end in groups of L
    n_targets = ends - starts - 1
    n_chunks = np.where(n_targets > 0, (n_targets + S - 1) // S, 0)
    row_user = np.repeat(np.arange(len(starts)), n_chunks)
    chunk_no = np.arange(n_chunks.sum()) - np.repeat(np.cumsum(n_chunks) - n_chunks, n_chunks)
    last_t = ends[row_user] - 1 - chunk_no * S  # index of the chunk's last target
    first_in = np.maximum(last_t - L + 1, starts[row_user] + 1)  # first position in the row
    first_t = np.maximum(last_t - S + 1, starts[row_user] + 1)  # first labelled target
    # inputs for target t is event t-1; row layout is right-aligned (left padding)
    offs = np.arange(L)[None, :] - (L - 1)
    tgt_idx = last_t[:, None] + offs  # (W, L)
    ok = tgt_idx >= first_in[:, None]
    labelled = tgt_idx >= first_t[:, None]
    inp_idx = np.where(ok, tgt_idx - 1, 0)
    inputs = {c: np.where(ok, v[inp_idx], 0) for c, v in cols.items()}
    targets = np.where(labelled, cols["item_idx"][np.where(ok, tgt_idx, 0)], 0)
    tev = cols.get("event_idx")
    target_events = (
        np.where(labelled, tev[np.where(ok, tgt_idx, 0)], 0)
        if tev is not None
        else np.zeros_like(targets)
    )
    fut = None
    if future > 0:
        # position j of the future: event t + j (t the next item), inside the user's sequence
        ahead = tgt_idx[:, :, None] + np.arange(1, future + 1)
        inside = labelled[:, :, None] & (ahead < ends[row_user][:, None, None])
        fut = np.where(inside, cols["item_idx"][np.where(inside, ahead, 0)], 0).astype(np.int32)
    return Windows(inputs, targets, target_events, users[starts[row_user]] if n else users, fut)


def pad_histories(
    histories: list[dict[str, np.ndarray]], columns: tuple[str, ...], max_seq_len: int
) -> dict[str, torch.Tensor]:
    """Left-pad the last ``max_seq_len`` events of each history into (B, L) tensors."""
    B, L = len(histories), max_seq_len
    out = {}
    for c in columns:
        mat = np.zeros((B, L), dtype=np.int64)
        for i, h in enumerate(histories):
            v = h.get(c)
            if v is None or not len(v):
                continue
            v = np.asarray(v[-L:], dtype=np.int64)
            mat[i, L - len(v) :] = v
        out[c] = torch.from_numpy(mat)
    return out


def targets_share(target: torch.Tensor, share: float) -> torch.Tensor:
    """(T,) sorted positions of the (B, L) ``target`` window, the last one always, the others
    drawn without replacement in proportion to their rows with a target, until the chosen
    positions hold at least ``share`` of all targets."""
    rows = (target > 0).sum(0).float()  # (L,) rows with a target at each position
    last = torch.tensor([target.shape[1] - 1], device=target.device)
    earlier = rows[:-1]
    need = share * float(rows.sum()) - float(rows[-1])
    n_earlier = int((earlier > 0).sum())
    if need <= 0 or n_earlier == 0:
        return last
    order = torch.multinomial(earlier, n_earlier, replacement=False)  # a weighted shuffle
    held = torch.cumsum(earlier[order], 0)
    n = int(torch.searchsorted(held, torch.tensor([need], device=held.device))[0]) + 1
    return torch.cat([order[:n].sort().values, last])
