"""The Spark engine writes the Polars engine's prepared dataset, file for file and row for row.

Every comparison reads each Parquet file of both directories into a frame (same columns, types,
rows and order) and compares ``schema.json`` as a whole; the bad-row reports compare the counts of
every kind and the problems themselves (file, line, column, value, expected).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from prismrec.config import DataConfig, load_config
from prismrec.data.dataset import PrepareReport, prepare_dir
from prismrec.errors import DataError

# they start Spark processes (one session for all of them, see conftest.py)
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def artifact(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        str(p.relative_to(root)): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))
    }
    out["schema.json"] = json.loads((root / "schema.json").read_text())
    return out


def assert_same(a: Path, b: Path) -> None:
    x, y = artifact(a), artifact(b)
    assert x.keys() == y.keys()
    for name, frame in x.items():
        if isinstance(frame, pl.DataFrame):
            assert frame.schema == y[name].schema, name
            assert frame.equals(y[name]), name
        else:
            assert frame == y[name], name


def both(
    path: Path | str, tmp: Path, cfg: DataConfig, fmt: str | None = None, **spark: Any
) -> tuple[PrepareReport, PrepareReport]:
    """Prepare with both engines (bad rows skipped); assert the same directory."""
    polars = prepare_dir(path, tmp / "polars", fmt, cfg, skip_bad_rows=True)
    on_spark = cfg.model_copy(update={"engine": "spark", **spark})
    sparked = prepare_dir(path, tmp / "spark", fmt, on_spark, skip_bad_rows=True)
    assert_same(tmp / "polars", tmp / "spark")
    return polars, sparked


def assert_same_problems(a: PrepareReport, b: PrepareReport) -> None:
    assert dict(a.problems.counts) == dict(b.problems.counts)
    assert a.problems.sorted() == b.problems.sorted()


SHARED = {
    "ml-100k": ("ml-100k", None),
    "ml-latest-small": ("ml-latest-small/ml-latest-small.zip", None),
    "taobao-head": ("taobao-userbehavior-head/UserBehavior.csv", None),
    "tianchi": ("tianchi-mobile-sample", None),
}


@pytest.mark.parametrize("name", list(SHARED))
def test_shared_datasets_give_identical_artifacts(
    name: str, master: str, data_dir: Path, tmp_path: Path
) -> None:
    rel, fmt = SHARED[name]
    polars, sparked = both(data_dir / rel, tmp_path, DataConfig(), fmt)
    assert_same_problems(polars, sparked)
    if name == "taobao-head":  # the release's head ends in the middle of a row
        assert dict(sparked.problems.counts) == {"truncated_line": 1}
        assert sparked.schema["rows_bad"] == 1 and sparked.schema["n_events"] == 84_475


def test_synthetic_parquet_gives_identical_artifacts(master: str, tmp_path: Path) -> None:
    from prismrec.data.synth import synthesize

    synthesize(300, 400, 20_000, seed=3, out_dir=tmp_path / "raw")
    cfg = load_config(tmp_path / "raw" / "prismrec.toml").data
    both(tmp_path / "raw", tmp_path, cfg, "parquet")


def planted(path: Path, seed: int = 0) -> Path:
    """Events with many ties in time (one of 40 hours), exact duplicates, a context column with
    blanks, bad rows of every row-level kind spread through the file, a cut-off last line."""
    rng = np.random.default_rng(seed)
    n = 4000
    rows = [
        f"u{u},i{i},{1_700_000_000 + 3600 * h},{e},{v},{d}"
        for u, i, h, e, v, d in zip(
            rng.integers(0, 80, n),
            rng.zipf(1.5, n) % 90,
            rng.integers(0, 40, n),
            rng.choice(["view", "click", "cart", "purchase"], n),
            rng.integers(1, 6, n),
            rng.choice(["mobile", "desktop", ""], n),
            strict=True,
        )
    ]
    rows += rows[::9]  # exact duplicates, on later lines
    rows += [
        "u1,,1700000000,view,3,mobile",  # empty item
        ",i1,1700000000,view,3,mobile",  # empty user
        "u2,i2,yesterday,view,3,mobile",  # bad timestamp
        "u3,i3,,view,3,mobile",  # missing timestamp
        "u4,i4,1700000000,teleport,3,mobile",  # unknown event type
        "u5,i5,1700000000,view,many,mobile",  # bad number
        "u6,i6,1700000000,view,99,desktop",  # out of range
        "u7,i7,2023-11-14T22:13:20,click,2,desktop",  # ISO time: good
    ] * 3
    order = rng.permutation(len(rows))
    body = "\n".join(rows[k] for k in order)
    path.write_text("user_id,item_id,timestamp,event_type,value,device\n" + body + "\nu9,i9")
    return path


PLANTED = DataConfig(
    context_columns=["device"],
    value_min=1,
    value_max=5,
    dedup=True,
    rating_threshold=2,
    min_user_interactions=3,
    min_item_interactions=2,
)


# ratio and users: the two tests below
@pytest.mark.parametrize("split", ["loo", "temporal", "cold-items"])
def test_planted_ties_and_bad_rows_every_split(master: str, tmp_path: Path, split: str) -> None:
    cfg = PLANTED.model_copy(update={"split": split})
    polars, sparked = both(planted(tmp_path / "events.csv"), tmp_path, cfg, "csv")
    assert_same_problems(polars, sparked)
    counts = sparked.problems.counts
    for kind in ("empty_id", "bad_timestamp", "missing_timestamp", "unknown_event_type"):
        assert counts[kind] >= 3, kind
    assert counts["bad_number"] == 3 and counts["out_of_range"] == 3
    assert counts["truncated_line"] == 1


def test_recbole_time_order_on_spark(master: str, tmp_path: Path) -> None:
    cfg = PLANTED.model_copy(update={"time_order": "recbole", "split": "ratio"})
    both(planted(tmp_path / "events.csv", seed=1), tmp_path, cfg, "csv")


def test_output_does_not_depend_on_partitions(master: str, tmp_path: Path) -> None:
    path = planted(tmp_path / "events.csv", seed=2)
    cfg = PLANTED.model_copy(update={"split": "users"})
    both(path, tmp_path / "one", cfg, "csv", spark_partitions=1)
    both(path, tmp_path / "seven", cfg, "csv", spark_partitions=7)
    assert_same(tmp_path / "one" / "spark", tmp_path / "seven" / "spark")


def test_bad_rows_stop_both_engines_with_the_same_report(master: str, tmp_path: Path) -> None:
    path = planted(tmp_path / "events.csv")
    messages = []
    for engine in ("polars", "spark"):
        cfg = PLANTED.model_copy(update={"engine": engine, "spark_master": master})
        with pytest.raises(DataError) as err:
            prepare_dir(path, tmp_path / engine, "csv", cfg)
        messages.append((str(err.value), err.value.problems))
    assert messages[0] == messages[1]
    assert "bad row(s)" in messages[0][0] and f"{path}:" in messages[0][0]


def test_cli_prepare_with_the_spark_engine(master: str, tmp_path: Path) -> None:
    from prismrec.cli.main import app

    path = planted(tmp_path / "events.csv")
    config = tmp_path / "c.toml"
    config.write_text('[data]\ncontext_columns = ["device"]\nvalue_min = 1\nvalue_max = 5\n')
    base = ["data", "prepare", str(path), "--format", "csv", "--config", str(config)]
    runner = CliRunner()
    for engine, out in (("polars", "p"), ("spark", "s")):
        args = [*base, "--out", str(tmp_path / out), "--skip-bad-rows", "--engine", engine]
        result = runner.invoke(app, [*args, "--master", master])
        assert result.exit_code == 0, result.output
    assert_same(tmp_path / "p", tmp_path / "s")
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "x"), "--engine", "dask"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_headerless_csv_with_a_column_mapping(master: str, tmp_path: Path) -> None:
    path = tmp_path / "e.tsv"
    path.write_text("".join(f"u{i % 7}\ti{i % 11}\t{100 + i // 3}\n" for i in range(300)))
    names = {"user_id": "column_0", "item_id": "column_1", "timestamp": "column_2"}  # polars
    both(path, tmp_path, DataConfig(has_header=False, columns=names), "csv")
