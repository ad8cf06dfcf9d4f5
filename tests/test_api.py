"""The Python API in external ids: the same lists and numbers as the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import TINY_CSV
from typer.testing import CliRunner

import prismrec as pr
from prismrec.cli.main import app
from prismrec.errors import ConfigError, DataError, UnknownIdError

runner = CliRunner()


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    df = pl.read_csv(TINY_CSV.encode())
    return df.rename({"user_id": "customer", "item_id": "sku"})


def test_a_dataframe_in_a_model_out_recommendations_in_external_ids(
    frame: pl.DataFrame, tmp_path: Path
) -> None:
    items = pl.DataFrame({"sku": list("abcde"), "title": ["A", "B", "C", "D", "E"]})
    ds = pr.Dataset.from_frame(
        frame,
        tmp_path / "data",
        items=items,
        columns={"user_id": "customer", "item_id": "sku"},
        item_text_fields=["title"],
    )
    assert (ds.n_users, ds.n_items) == (3, 5) and ds.root == tmp_path / "data"
    assert pr.Dataset.load(ds.root).n_items == 5
    model = pr.train(ds, "itemknn")
    assert "ndcg@10" in model.metrics["valid"]
    recs = model.recommend_for(user_id="u1", k=3)
    assert recs and {"item_id", "score"} == set(recs[0])
    assert not {r["item_id"] for r in recs} & {"a", "b", "c"}  # u1's training history
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    new = model.recommend_for(history=["a", "b"], k=3)
    assert {r["item_id"] for r in new} <= {"c", "d", "e"}
    with pytest.raises(UnknownIdError, match="unknown user 'zz'"):
        model.recommend_for(user_id="zz")
    with pytest.raises(UnknownIdError, match="in history: nope"):
        model.recommend_for(history=["a", "nope"])
    with pytest.raises(ConfigError, match="k must be"):
        model.recommend_for(user_id="u1", k=0)
    with pytest.raises(ConfigError, match="unknown parameter 'embedding_dimm'"):
        pr.train(ds, "prism", embedding_dimm=8)


def test_from_frame_defaults_to_a_temporary_directory_and_checks_its_input(
    frame: pl.DataFrame,
) -> None:
    ds = pr.Dataset.from_frame(frame, columns={"user_id": "customer", "item_id": "sku"})
    assert ds.n_users == 3 and (ds.root / "schema.json").is_file()
    with pytest.raises(DataError, match="expected a polars or pandas DataFrame"):
        pr.Dataset.from_frame([1, 2, 3])
    with pytest.raises(DataError, match="customer"):  # unmapped columns: the loader says which
        pr.Dataset.from_frame(frame)


def test_pandas_frames(frame: pl.DataFrame) -> None:
    pytest.importorskip("pandas")
    ds = pr.Dataset.from_frame(frame.to_pandas(), columns={"user_id": "customer", "item_id": "sku"})
    assert ds.n_users == 3


def test_saved_model_answers_like_the_trained_one_and_evaluate_matches_the_cli(
    tmp_path: Path,
) -> None:
    (tmp_path / "events.csv").write_text(TINY_CSV)
    ds = pr.prepare(tmp_path / "events.csv", tmp_path / "data", split="loo")
    model = pr.train(ds, "itemknn", out=tmp_path / "model", neighbours=5)
    loaded = pr.load(tmp_path / "model")
    assert loaded.name == "itemknn" and loaded.root == tmp_path / "model"
    assert loaded.recommender.model_config.neighbours == 5
    for kwargs in ({"user_id": "u2"}, {"history": ["d", "a"]}, {"user_id": "u3", "k": 2}):
        assert loaded.recommend_for(**kwargs) == model.recommend_for(**kwargs)
    assert loaded.metrics == json.loads(json.dumps(model.metrics))
    metrics = pr.evaluate(loaded, ds, split="test")
    r = runner.invoke(
        app, ["evaluate", "-m", str(tmp_path / "model"), "-d", str(ds.root), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(json.dumps(metrics))
    assert metrics["protocol"]["split"] == "test" and 0 <= metrics["ndcg@10"] <= 1
    assert pr.evaluate(tmp_path / "model", ds.root, split="valid")["protocol"]["split"] == "valid"
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        pr.evaluate(loaded, ds, split="train")
    lines = list(loaded.recommend_split(ds, "test", k=2))
    out = tmp_path / "r.jsonl"
    r = runner.invoke(
        app, ["recommend", "-m", str(loaded.root), "-d", str(ds.root), "-k", "2", "-o", str(out)]
    )
    assert r.exit_code == 0 and [json.loads(x) for x in out.read_text().splitlines()] == lines


def test_wrong_directories_say_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(TINY_CSV)
    ds = pr.prepare(tmp_path / "events.csv", tmp_path / "data")
    with pytest.raises(ConfigError, match="prepared dataset: pass it as --data"):
        pr.load(ds.root)
    pr.train(ds, "pop", out=tmp_path / "pop")
    with pytest.raises(DataError, match="model directory: pass it as --model"):
        pr.Dataset.load(tmp_path / "pop")
    with pytest.raises(ConfigError, match="unknown model type 'gpt'"):
        pr.train(ds, "gpt")
