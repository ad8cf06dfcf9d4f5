"""The users split (future-set protocol): seeded held-out users, their input/target cut, and
that no training frame ever holds their events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prismrec.config import DataConfig, load_config
from prismrec.data.dataset import PreparedDataset, prepare
from prismrec.data.splits import input_counts
from prismrec.errors import ConfigError, DataError


def _events(tmp_path: Path, n_users: int = 60) -> Path:
    """Users with 1..30 events each (user 0 has one), in a CSV."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(n_users):
        n = 1 if u == 0 else int(rng.integers(2, 31))
        for t in range(n):
            rows.append((f"u{u}", f"i{int(rng.integers(0, 80))}", 1_000_000 + 1000 * u + t))
    p = tmp_path / "e.csv"
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(p)
    return p


def _prepare(src: Path, out: Path, **cfg: object) -> PreparedDataset:
    return prepare(src, out, "csv", DataConfig(split="users", **cfg))  # type: ignore[arg-type]


def _parts(ds: PreparedDataset) -> dict[str, set[str]]:
    f = ds.frame
    out = {}
    for name, code in (("valid", 1), ("test", 2)):
        rows = f.filter(pl.col("split") == code).get_column("user_idx").unique().to_numpy()
        out[name] = set(ds.user_vocab.external(rows))
    return out


def test_users_split_is_seeded_and_deterministic(tmp_path: Path) -> None:
    src = _events(tmp_path)
    a = _prepare(src, tmp_path / "a")
    b = _prepare(src, tmp_path / "b")
    c = _prepare(src, tmp_path / "c", seed=7)
    assert a.frame.equals(b.frame)
    assert _parts(a) == _parts(b) != _parts(c)
    parts = _parts(a)
    assert len(parts["valid"]) == len(parts["test"]) == 6  # round(0.1 * 60)
    assert not parts["valid"] & parts["test"]
    assert "u0" not in parts["valid"] | parts["test"]  # one event: cannot be held out
    split = a.schema["split"]
    assert split["kind"] == "users" and split["assignment"] == "seeded" and split["seed"] == 42
    assert (split["train_users"], split["valid_users"], split["test_users"]) == (48, 6, 6)
    assert split["valid_user_share"] == split["test_user_share"] == 0.1
    assert split["input_share"] == 0.8
    assert a.config.split == "users"


def test_held_out_users_never_train(tmp_path: Path) -> None:
    ds = _prepare(_events(tmp_path), tmp_path / "out")
    parts = _parts(ds)
    held = parts["valid"] | parts["test"]
    for upto in ("valid", "test"):
        users = set(ds.user_vocab.external(ds.split_frame(upto).get_column("user_idx").unique()))
        assert not users & held and len(users) == 48
        seqs = ds.sequences(upto)
        assert not set(ds.user_vocab.external(seqs["user_idx"][0])) & held
    counts = ds.schema["split_counts"]
    assert counts["train"] == ds.split_frame("test").height
    assert sum(counts.values()) == ds.frame.height


@pytest.mark.parametrize("split", ["valid", "test"])
def test_eval_cases_are_the_input_and_the_target_set(tmp_path: Path, split: str) -> None:
    ds = _prepare(_events(tmp_path), tmp_path / "out")
    cases = ds.eval_cases(split)
    assert set(ds.user_vocab.external(cases.users)) == _parts(ds)[split]
    f = ds.frame
    for i, u in enumerate(cases.users):
        seq = f.filter(pl.col("user_idx") == u).sort("pos").get_column("item_idx").to_numpy()
        cut = max(1, min(len(seq) - 1, int(0.8 * len(seq))))
        assert np.array_equal(cases.histories[i], seq[:cut])
        assert np.array_equal(cases.targets[i], np.unique(seq[cut:]))
        feats = cases.inputs()[i]
        assert isinstance(feats, dict) and set(feats) >= {"item_idx", "event_idx", "gap_bucket"}
        assert all(len(v) == cut for v in feats.values())


def test_input_counts_round_down_and_keep_an_input_and_a_target() -> None:
    n = np.array([2, 3, 4, 5, 9, 10, 11, 100])
    assert input_counts(n, 0.8).tolist() == [1, 2, 3, 4, 7, 8, 8, 80]
    assert input_counts(np.array([2, 3, 10]), 0.1).tolist() == [1, 1, 1]
    assert input_counts(np.array([2, 3, 10]), 0.95).tolist() == [1, 2, 9]
    assert input_counts(np.array([10]), 0.7).tolist() == [7]  # 0.7 * 10 = 6.999...


def test_shares_of_users_and_input(tmp_path: Path) -> None:
    ds = _prepare(
        _events(tmp_path),
        tmp_path / "out",
        valid_user_share=0.2,
        test_user_share=0.05,
        input_share=0.5,
    )
    assert (ds.schema["split"]["valid_users"], ds.schema["split"]["test_users"]) == (12, 3)
    c = ds.eval_cases("test")
    lengths = ds.frame.group_by("user_idx").len().sort("user_idx")
    n = dict(zip(*lengths.get_columns(), strict=True))
    assert [len(h) for h in c.histories] == [max(1, n[u] // 2) for u in c.users]


def test_too_few_users_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="valid_user_share"):
        _prepare(_events(tmp_path, n_users=2), tmp_path / "out")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("valid_user_share = 0.0", "valid_user_share"),
        ("test_user_share = 1.0", "test_user_share"),
        ("input_share = 1.0", "input_share"),
        ("input_share = 0", "input_share"),
        ("valid_user_share = 0.5\ntest_user_share = 0.5", "valid_user_share"),
    ],
)
def test_bad_shares_are_config_errors_naming_the_key(tmp_path: Path, line: str, key: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(f'[data]\nsplit = "users"\n{line}\n')
    with pytest.raises(ConfigError, match=key):
        load_config(p)
