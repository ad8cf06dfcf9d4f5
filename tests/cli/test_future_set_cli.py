"""The future-set protocol through the CLI: prepare with a users split, train, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from prismrec.cli.main import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _events(path: Path) -> Path:
    """40 users with 5-14 events over 30 items, each user drifting through a few items."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        base = int(rng.integers(0, 25))
        for t in range(int(rng.integers(5, 15))):
            rows.append((f"u{u}", f"i{base + int(rng.integers(0, 6))}", 1_000 + 100 * u + t))
    pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row").write_csv(path)
    return path


def test_prepare_train_evaluate_on_a_users_split(tmp_path: Path) -> None:
    data, model = tmp_path / "data", tmp_path / "model"
    src = _events(tmp_path / "events.csv")
    r = run("data", "prepare", src, "--split-kind", "users", "--seed", "3", "--out", data)
    assert r.exit_code == 0, r.output
    assert "valid_input events" in r.output
    schema = json.loads((data / "schema.json").read_text())
    assert schema["split"]["kind"] == "users" and schema["split"]["seed"] == 3
    r = run("train", "--data", data, "--model-type", "itemknn", "--out", model)
    assert r.exit_code == 0, r.output
    r = run("evaluate", "--model", model, "--data", data, "--split", "test")
    assert r.exit_code == 0, r.output
    assert "future-set" in r.output and "@50" in r.output
    # the report's headline figures follow the protocol's cut-offs (no @10 here)
    report = tmp_path / "report"
    r = run("evaluate", "--model", model, "--data", data, "--report", report)
    assert r.exit_code == 0, r.output
    assert (report / "metrics.png").is_file() and "recall@20" in (
        report / "report.html"
    ).read_text()
    r = run(
        "evaluate",
        "--model",
        model,
        "--data",
        data,
        "--json",
        "--no-filter-seen",
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    proto = payload["protocol"]
    assert proto["protocol"] == "future-set" and proto["ks"] == [20, 50]
    assert proto["seen_items_masked"] is False and proto["assignment"] == "seeded"
    assert (proto["valid_user_share"], proto["test_user_share"], proto["input_share"]) == (
        0.1,
        0.1,
        0.8,
    )
    assert payload["n_users"] == proto["test_users"] == 4
    assert 0.0 <= payload["recall@50"] <= 1.0 and "ndcg@20" in payload
    r = run("evaluate", "--model", model, "--data", data, "--json", "--k", "5")
    assert json.loads(r.stdout)["protocol"]["ks"] == [5]
