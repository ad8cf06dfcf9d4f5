"""RepeatBias: which items get which recency bucket, sparse and dense forms agree."""

from __future__ import annotations

import torch

from prismrec.models.repeat import RepeatBias


def test_buckets_are_log2_of_distance_and_clipped() -> None:
    rb = RepeatBias(n_buckets=4)
    d = torch.tensor([0, 1, 2, 3, 6, 7, 14, 100])
    assert rb.bucket(d).tolist() == [0, 1, 1, 2, 2, 3, 3, 3]


def test_sparse_rows_hold_only_the_prefix_and_match_last() -> None:
    rb = RepeatBias(n_buckets=3)
    with torch.no_grad():
        rb.table.copy_(torch.tensor([1.0, 2.0, 3.0]))
    seq = torch.tensor([[0, 5, 7, 5]])  # left-padded; item 5 occurs twice
    idx, vals = rb(seq)
    assert idx.shape == vals.shape == (1, 4, 4)
    # position 1 (after the first 5): only item 5 at distance 0
    dense1 = rb.dense(idx[:, 1], vals[:, 1], 9)
    assert dense1[0, 5] == 10.0 and dense1[0, 7] == 0.0
    # last position: 5 at distances 2 (bucket 1) and 0 (bucket 0) add up; 7 at distance 1
    dense3 = rb.dense(idx[:, 3], vals[:, 3], 9)
    assert dense3[0, 5] == 10.0 + 20.0 and dense3[0, 7] == 20.0
    assert dense3[0, 1:5].abs().sum() == 0 and dense3[0, 6] == 0 and dense3[0, 8] == 0
    torch.testing.assert_close(rb.last(seq, 9)[:, 1:], dense3[:, 1:])


def test_starts_neutral() -> None:
    rb = RepeatBias()
    assert rb.last(torch.tensor([[3, 4, 3]]), 6).abs().sum() == 0
