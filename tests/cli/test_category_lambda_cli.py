"""``prismrec evaluate --category-lambda``: ComiRec's category aggregation from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import prismrec as pr
from prismrec.cli.main import app
from prismrec.data.synth import synthesize

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A users split with item categories, one without, and an itemknn model of the first."""
    root = tmp_path_factory.mktemp("lam")
    syn = synthesize(120, 80, 2400, seed=9)
    events = syn.interactions.select("user_id", "item_id", "timestamp")
    items = syn.items.select("item_id", "category")
    data = pr.Dataset.from_frame(
        events, root / "data", items=items, item_categorical_fields=["category"], split="users"
    )
    pr.Dataset.from_frame(events, root / "bare", split="users")
    pr.train(data, "itemknn", out=root / "model")
    return root / "data", root / "bare", root / "model"


def test_evaluate_with_a_category_lambda(trained: tuple[Path, Path, Path]) -> None:
    data, _, model = trained
    plain = json.loads(run("evaluate", "-m", model, "-d", data, "--json").stdout)
    r = run("evaluate", "-m", model, "-d", data, "--json", "--category-lambda", "2")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["protocol"]["category_lambda"] == 2.0
    assert got["protocol"]["aggregation_pool"] == 200
    assert got["diversity@50"] > plain["diversity@50"]
    r = run("evaluate", "-m", model, "-d", data, "--category-lambda", "0.1")
    assert r.exit_code == 0, r.output
    assert "category aggregation λ=0.1" in r.output


@pytest.mark.parametrize(
    ("which", "value", "message"),
    [("data", "-0.5", "must be a number >= 0"), ("bare", "0.1", "needs item categories")],
)
def test_a_wrong_category_lambda_is_one_line(
    trained: tuple[Path, Path, Path], which: str, value: str, message: str
) -> None:
    data, bare, model = trained
    r = run(
        "evaluate", "-m", model, "-d", data if which == "data" else bare, "--category-lambda", value
    )
    assert r.exit_code == 1
    assert message in r.output and "Traceback" not in r.output
    assert r.output.strip().startswith("error:")
