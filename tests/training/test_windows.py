"""Training windows: every target exactly once per epoch, inputs are the events just before."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from prismrec.training.windows import build_windows, pad_histories, targets_share


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_idx": [0] * 7 + [1] * 2 + [2],
            "pos": [*range(7), 0, 1, 0],
            "item_idx": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        }
    )


def test_non_overlapping_chunks_from_the_newest_event() -> None:
    w = build_windows(_frame(), ("item_idx",), 3)
    assert w.inputs["item_idx"].tolist() == [[4, 5, 6], [1, 2, 3], [0, 0, 8]]
    assert w.targets.tolist() == [[5, 6, 7], [2, 3, 4], [0, 0, 9]]
    assert w.users.tolist() == [0, 0, 1]


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_every_target_once_whatever_the_stride(stride: int) -> None:
    w = build_windows(_frame(), ("item_idx",), 3, stride=stride)
    labelled = sorted(w.targets[w.targets > 0].tolist())
    assert labelled == [2, 3, 4, 5, 6, 7, 9]
    # each labelled target's input slot holds the event right before it
    rows, cols = np.nonzero(w.targets)
    assert np.all(w.inputs["item_idx"][rows, cols] == w.targets[rows, cols] - 1)


def test_stride_gives_longer_context() -> None:
    w = build_windows(_frame(), ("item_idx",), 3, stride=1)
    # the row predicting 3 sees 1, 2 before it
    row = next(i for i in range(len(w)) if 3 in w.targets[i])
    assert w.inputs["item_idx"][row].tolist() == [0, 1, 2]


def test_pad_histories_left_pads_and_truncates() -> None:
    out = pad_histories(
        [{"item_idx": np.array([1, 2, 3, 4])}, {"item_idx": np.array([5])}], ("item_idx", "hour"), 3
    )
    assert out["item_idx"].tolist() == [[2, 3, 4], [0, 0, 5]]
    assert out["hour"].tolist() == [[0, 0, 0], [0, 0, 0]]


def test_future_holds_the_items_after_the_next_one() -> None:
    w = build_windows(_frame(), ("item_idx",), 3, future=2)
    assert w.future is not None and w.future.shape == (3, 3, 2)
    # user 0's row with targets 5, 6, 7: after 5 come 6, 7; after 6 only 7; after 7 nothing
    assert w.future[0].tolist() == [[6, 7], [7, 0], [0, 0]]
    assert w.future[1].tolist() == [[3, 4], [4, 5], [5, 6]]
    # padded positions and user 1's only target (9, the end of its sequence) have none
    assert w.future[2].tolist() == [[0, 0], [0, 0], [0, 0]]
    # the future never crosses into another user's events
    assert build_windows(_frame(), ("item_idx",), 3).future is None


def test_interest_positions_hold_their_share_of_the_targets() -> None:
    """``interest_positions`` counts targets: on short right-aligned rows (most of the window
    padding) a share of 0.25 is the last position and few others, not a quarter of them."""
    torch.manual_seed(0)
    lengths = torch.tensor([3, 4, 5, 2, 50, 6, 3, 4])  # one long row, the rest short
    target = (torch.arange(50)[None, :] >= 50 - lengths[:, None]).long()  # (8, 50)
    total = int(target.sum())
    for share in (0.1, 0.25, 0.5, 0.9):
        for _ in range(20):
            at = targets_share(target, share)
            held = int(target[:, at].sum())
            assert at[-1] == 49 and bool((at[1:] > at[:-1]).all())  # the last, sorted, once
            assert held >= share * total
            # no more than one position past the share
            assert held < share * total + int(target.sum(0).max())
    assert targets_share(target, 0.01).tolist() == [49]  # the last position alone is enough
