"""The comirec format: users already split into train/valid/test files, kept as given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prismrec.config import DataConfig
from prismrec.data.dataset import prepare
from prismrec.data.loaders import detect_format, load
from prismrec.errors import DataError

TRAIN = "1 10 11 12 10\n2 11 13\n3 12 13 14 15 16\n"
VALID = "4 10 11 12 13 14\n"  # 5 events: 4 in, 1 target
TEST = "5 16 15 14\n6 10 10 11 10 12 13 10\n"  # 3 events: 2 in; 7 events: 5 in
ITEM_MAP = "".join(f"{900 + i},{i}\n" for i in range(10, 17))


def _write(root: Path, train: str = TRAIN, valid: str = VALID, test: str = TEST) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_text(train)
    (root / "valid.txt").write_text(valid)
    (root / "test.txt").write_text(test)
    (root / "item_map.txt").write_text(ITEM_MAP)
    return root


def test_directory_is_detected_and_the_user_assignment_kept(tmp_path: Path) -> None:
    src = _write(tmp_path / "raw")
    assert detect_format(src) == "comirec"
    ds = prepare(src, tmp_path / "out")
    s = ds.schema
    assert (s["n_users"], s["n_items"], s["n_events"]) == (6, 7, 26)
    assert s["has_time"] is False
    assert s["split"]["kind"] == "users" and s["split"]["assignment"] == "given"
    assert (s["split"]["train_users"], s["split"]["valid_users"], s["split"]["test_users"]) == (
        3,
        1,
        2,
    )
    assert ds.config.split == "users"
    train_users = ds.user_vocab.external(ds.split_frame("test").get_column("user_idx").unique())
    assert sorted(train_users) == ["1", "2", "3"]
    assert s["split_counts"] == {
        "train": 11,
        "valid": 1,
        "test": 3,
        "valid_input": 4,
        "test_input": 7,
    }
    ext = ds.item_vocab.external
    valid = ds.eval_cases("valid")
    assert ds.user_vocab.external(valid.users) == ["4"]
    assert ext(valid.histories[0]) == ["10", "11", "12", "13"] and ext(valid.targets[0]) == ["14"]
    test = ds.eval_cases("test")
    got = {
        u: (ext(h), sorted(ext(t)))
        for u, h, t in zip(
            ds.user_vocab.external(test.users), test.histories, test.targets, strict=True
        )
    }
    assert got == {
        "5": (["16", "15"], ["14"]),
        "6": (["10", "10", "11", "10", "12"], ["10", "13"]),  # a repeat is a target too
    }
    items = ds.items_frame.sort("item_id")
    assert items.get_column("original_id").to_list()[:2] == ["910", "911"]


def test_a_file_inside_the_directory_names_it(tmp_path: Path) -> None:
    src = _write(tmp_path / "raw")
    assert load(src / "train.txt", "comirec").rows_ok == 26


def test_another_split_kind_pools_the_users(tmp_path: Path) -> None:
    src = _write(tmp_path / "raw")
    ds = prepare(src, tmp_path / "out", config=DataConfig(split="loo"))
    assert ds.schema["split"] == {"kind": "loo"}
    assert len(ds.eval_cases("test")) == 6


@pytest.mark.parametrize(
    ("files", "where", "column", "value"),
    [
        ({"train": "1 10 x11\n"}, "train.txt:1", "item_id", "x11"),
        ({"train": "1 10\n-2 11\n"}, "train.txt:2", "user_id", "-2"),
        ({"valid": "4 10\n"}, "valid.txt:1", "line", "4 10"),
        ({"test": "5 16 15 14\n1 10 11\n"}, "test.txt:2", "user_id", "1"),
        ({"test": "5 16 15 99\n"}, "test.txt:1", "item_id", "99"),
    ],
)
def test_bad_lines_name_file_line_column_and_value(
    tmp_path: Path, files: dict[str, str], where: str, column: str, value: str
) -> None:
    src = _write(tmp_path / "raw", **files)
    result = load(src, "comirec")
    problem = result.problems.sorted()[0]
    assert f"{problem.file}:{problem.line}".endswith(where)
    assert (problem.column, problem.value) == (column, value)
    with pytest.raises(DataError, match=value):
        prepare(src, tmp_path / "out")


def test_missing_files_are_named(tmp_path: Path) -> None:
    src = _write(tmp_path / "raw")
    (src / "test.txt").unlink()
    with pytest.raises(DataError, match=r"no test\.txt"):
        load(src, "comirec")


def test_retailrocket_as_published(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "retailrocket-comirec"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    ds = prepare(src, tmp_path / "rr")
    s = ds.schema
    assert (s["n_users"], s["n_items"], s["n_events"], s["rows_bad"]) == (
        37_175,
        25_310,
        440_084,
        0,
    )
    split, counts = s["split"], s["split_counts"]
    assert (split["train_users"], split["valid_users"], split["test_users"]) == (
        29_740,
        3_717,
        3_718,
    )
    assert counts["train"] == 356_633
    assert counts["valid"] + counts["valid_input"] == 42_386
    assert counts["test"] + counts["test_input"] == 41_065
    test = ds.eval_cases("test")
    assert len(test) == 3_718
    lengths = np.array([len(h) for h in test.histories])
    total = ds.frame.filter(pl.col("split") == 2).height + lengths.sum()
    assert total == 41_065 and lengths.min() >= 1
