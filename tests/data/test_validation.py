"""Each validation error kind: the message names file, line, column, value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from prismrec.config import DataConfig
from prismrec.data.dataset import prepare
from prismrec.data.loaders import load
from prismrec.errors import DataError


def _write(tmp_path: Path, text: str, name: str = "e.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _one(result, kind: str):
    found = [p for p in result.problems.problems if p.kind == kind]
    assert found, f"no {kind} in {[p.message for p in result.problems.problems]}"
    return found[0]


def test_missing_column_names_the_fix(tmp_path: Path) -> None:
    p = _write(tmp_path, "user,item_id,timestamp\n1,a,5\n")
    with pytest.raises(DataError) as e:
        load(p, "csv")
    msg = str(e.value)
    assert "missing required column(s) ['user_id']" in msg and "the file has: user, item_id" in msg
    assert '[data.columns] user_id = "<your column>"' in msg


def test_unexpected_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "user_id,item_id,timestamp,colour\n1,a,5,red\n")
    r = load(p, "csv")
    prob = _one(r, "unexpected_column")
    assert prob.column == "colour" and "context_columns" in prob.expected
    assert load(p, "csv", DataConfig(extra_columns="context")).problems.n_problems == 0


def test_bad_timestamp_line_and_value(tmp_path: Path) -> None:
    p = _write(
        tmp_path, "user_id,item_id,timestamp\n1,a,5\n1,b,yesterday\n2,a,2020-01-02T03:04:05\n"
    )
    r = load(p, "csv")
    prob = _one(r, "bad_timestamp")
    assert (prob.file, prob.line, prob.column, prob.value) == (str(p), 3, "timestamp", "yesterday")
    assert "unix time or an ISO-8601" in prob.expected
    assert f"{p}:3: column 'timestamp' bad timestamp: got 'yesterday'" in prob.message
    assert r.rows_ok == 2 and r.rows_bad == 1
    iso = r.dataset.interactions.filter(r.dataset.interactions["user_id"] == "2")
    assert iso.get_column("timestamp").item() == 1577934245


def test_empty_id(tmp_path: Path) -> None:
    p = _write(tmp_path, "user_id,item_id,timestamp\n1,a,5\n ,b,6\n2,,7\n")
    r = load(p, "csv")
    lines = sorted((x.line, x.column) for x in r.problems.problems if x.kind == "empty_id")
    assert lines == [(3, "user_id"), (4, "item_id")]
    assert r.rows_ok == 1


def test_truncated_last_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "user_id,item_id,timestamp\n1,a,5\n1,b,6\n2,a")
    r = load(p, "csv")
    prob = _one(r, "truncated_line")
    assert prob.line == 4 and "ends in the middle of this line" in prob.expected
    assert r.rows_ok == 2 and r.rows_bad == 1


def test_unknown_event_type(tmp_path: Path) -> None:
    p = _write(tmp_path, "user_id,item_id,timestamp,event_type\n1,a,5,view\n1,b,6,teleport\n")
    r = load(p, "csv")
    prob = _one(r, "unknown_event_type")
    assert prob.value == "teleport" and prob.line == 3 and "[data.event_weights]" in prob.expected
    cfg = DataConfig(event_weights={"view": 1, "teleport": 5})
    assert load(p, "csv", cfg).problems.n_problems == 0


def test_out_of_range_and_bad_number(tmp_path: Path) -> None:
    p = _write(tmp_path, "user_id,item_id,timestamp,value\n1,a,5,4\n1,b,6,9\n1,c,7,lots\n")
    r = load(p, "csv", DataConfig(value_min=1, value_max=5))
    rng = _one(r, "out_of_range")
    assert (rng.line, rng.value, rng.expected) == (3, "9.0", "a value in [1.0, 5.0]")
    num = _one(r, "bad_number")
    assert (num.line, num.value) == (4, "lots")


def test_unknown_item_and_conflicting_items(tmp_path: Path) -> None:
    d = tmp_path / "shop"
    d.mkdir()
    _write(d, "user_id,item_id,timestamp\n1,a,5\n1,zz,6\n", "interactions.csv")
    _write(d, "item_id,title\na,Alpha\nb,Beta\na,Other alpha\nb,Beta\n", "items.csv")
    r = load(d, "csv", DataConfig(item_text_fields=["title"]))
    unk = _one(r, "unknown_item")
    assert (unk.value, unk.line) == ("zz", 3) and unk.file.endswith("interactions.csv")
    conf = _one(r, "conflicting_item")
    assert (conf.value, conf.line) == ("a", 4) and conf.file.endswith("items.csv")
    assert r.dataset.items is not None and r.dataset.items.height == 2  # exact duplicate dropped


def test_real_ml100k_with_injected_errors(tmp_path: Path, data_dir: Path) -> None:
    """A real file with two broken rows: prepare names them; --skip-bad-rows keeps the rest."""
    src = (data_dir / "ml-100k-recbole" / "ml-100k.inter").read_text().splitlines()
    src[10] = "196\t242\t3\tnot-a-time"
    src[20] = "\t302\t3\t891717742"
    d = tmp_path / "ml"
    d.mkdir()
    (d / "ml.inter").write_text("\n".join(src) + "\n")
    with pytest.raises(DataError) as e:
        prepare(d, tmp_path / "out", "recbole")
    assert "2 bad row(s)" in str(e.value) and "ml.inter:11" in str(e.value)
    assert "ml.inter:21" in str(e.value) and "--skip-bad-rows" in str(e.value)
    ds = prepare(d, tmp_path / "out", "recbole", skip_bad_rows=True)
    assert ds.schema["n_events"] == 99_998 and ds.schema["rows_bad"] == 2
