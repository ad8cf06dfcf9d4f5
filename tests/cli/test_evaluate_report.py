"""``prismrec evaluate --report`` and ``prismrec compare`` end to end on a small synthetic set."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from prismrec.cli.compare import compare
from prismrec.cli.main import app
from prismrec.config import load_config
from prismrec.data.dataset import prepare
from prismrec.data.synth import synthesize
from prismrec.training import ItemKNN, MostPopular

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evalcli")
    synthesize(150, 100, 3000, seed=2, out_dir=root / "raw")
    cfg = load_config(root / "raw" / "prismrec.toml").data
    ds = prepare(root / "raw", root / "data", "parquet", cfg)
    ItemKNN().fit(ds).save(root / "itemknn")
    MostPopular().fit(ds).save(root / "pop")
    return {"root": root, "data": root / "data", "itemknn": root / "itemknn", "pop": root / "pop"}


def _evaluate(s: dict[str, Path], model: str, *extra: object) -> object:
    args = ["evaluate", "--model", s[model], "--data", s["data"], "--split", "test", *extra]
    return runner.invoke(app, [str(a) for a in args])


def _compare_app() -> typer.Typer:
    cmp = typer.Typer()
    cmp.command()(compare)

    @cmp.callback()
    def _root() -> None:  # keeps 'compare' a sub-command, as in the real app
        pass

    return cmp


def test_report_directory_and_flat_keys(setup: dict[str, Path]) -> None:
    rep = setup["root"] / "rep-knn"
    r = _evaluate(setup, "itemknn", "--json", "--report", rep)
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    for key in (
        "ndcg@10",
        "recall@10",
        "mrr@10",
        "hr@10",
        "ild@10",
        "category_coverage@10",
        "catalog_coverage@10",
        "novelty@10",
        "gini@10",
        "interest_coverage@20",
    ):
        assert isinstance(payload[key], float), key
    assert payload["protocol"]["ranking"] == "full" and payload["protocol"]["seen_items_masked"]
    assert {"cold_items", "short_history", "activity_6-20"} <= set(payload["slices"])
    assert any(k.startswith("event_") for k in payload["slices"])
    assert "planted facets" in payload["definitions"]["interest_coverage"]  # found in raw/truth
    assert payload == json.loads((rep / "metrics.json").read_text())
    html = (rep / "report.html").read_text()
    pngs = {p.name for p in rep.glob("*.png")}
    assert {"metrics.png", "item_map.png", "tradeoff.png"} <= pngs  # MMR strength curve
    assert set(re.findall(r"href='([^']+\.png)'", html)) == pngs
    assert "no re-ranker" not in html and "tradeoff.png" in html
    run = json.loads((rep / "run.json").read_text())
    assert run["data"]["source_md5"] and run["data"]["split_seed"] == 42
    assert run["model"]["name"] == "itemknn" and "git_commit" in run["code"]
    assert {"python", "numpy", "torch", "polars"} <= set(run["libraries"])
    with np.load(rep / "per_user.npz") as z:
        assert len(z["user_id"]) == payload["n_users"] and "ndcg@10" in z.files


def test_rerun_gives_identical_metrics(setup: dict[str, Path]) -> None:
    a, b = setup["root"] / "rep-a", setup["root"] / "rep-b"
    for out in (a, b):
        assert _evaluate(setup, "itemknn", "--report", out).exit_code == 0
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()
    with np.load(a / "per_user.npz") as za, np.load(b / "per_user.npz") as zb:
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k])


def test_terminal_table_and_sampled_label(setup: dict[str, Path]) -> None:
    r = _evaluate(setup, "pop")
    assert r.exit_code == 0, r.output
    assert "full ranking" in r.output and "per slice" in r.output and "ild" in r.output
    r = _evaluate(setup, "pop", "--sampled", "20", "--seed", "3", "--json")
    assert r.exit_code == 0, r.output
    proto = json.loads(r.stdout)["protocol"]
    assert proto["ranking"] == "sampled-20" and proto["negatives_seed"] == 3
    r = _evaluate(setup, "pop", "--sampled", "20")
    assert "sampled-20 ranking" in r.output.replace("\n", " ")


def test_baseline_and_compare(setup: dict[str, Path]) -> None:
    pop, knn = setup["root"] / "cmp-pop", setup["root"] / "cmp-knn"
    assert _evaluate(setup, "pop", "--report", pop).exit_code == 0
    r = _evaluate(setup, "itemknn", "--report", knn, "--baseline", pop)
    assert r.exit_code == 0, r.output
    assert "Compared with: pop" in (knn / "report.html").read_text()
    cmp = _compare_app()
    r = runner.invoke(
        cmp, ["compare", str(pop), str(knn), "--metric", "ndcg@10", "--metric", "ild@10"]
    )
    assert r.exit_code == 0, r.output
    assert "ndcg@10" in r.output and "ild@10" in r.output and "full ranking" in r.output
    r = runner.invoke(cmp, ["compare", str(pop), str(knn), "--json", "--n-boot", "200"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    (row,) = out["comparisons"]
    base = json.loads((pop / "metrics.json").read_text())["ndcg@10"]
    assert row["metric"] == "ndcg@10" and row["mean_a"] == pytest.approx(base)
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] and 0 < row["p_permutation"] <= 1
    assert out["protocol_differences"] == []


class _HashEncoder:
    """A stand-in text encoder: deterministic vectors from a hash of the text."""

    model_id = "hash-encoder"

    def encode(self, texts: list[str]) -> np.ndarray:
        seeds = [int(hashlib.md5(t.encode()).hexdigest()[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).normal(size=8) for s in seeds]).astype("f4")


def test_ild_uses_content_vectors_when_the_cache_is_encoded(setup: dict[str, Path]) -> None:
    from prismrec.content import encode_dataset
    from prismrec.data.dataset import PreparedDataset

    data = setup["root"] / "data-content"
    shutil.copytree(setup["data"], data)
    encode_dataset(PreparedDataset.load(data), encoder=_HashEncoder())
    args = ["evaluate", "--model", setup["pop"], "--data", data, "--json"]
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert "content vectors" in payload["definitions"]["ild"]
    assert payload["ild@10"] != payload["ild_category@10"]


def test_errors_are_clean(setup: dict[str, Path]) -> None:
    cmp = _compare_app()
    r = runner.invoke(cmp, ["compare", str(setup["root"]), str(setup["root"])])
    assert r.exit_code == 1 and "no per_user.npz" in r.output
    r = _evaluate(setup, "pop", "--facets", setup["root"] / "nope.parquet")
    assert r.exit_code == 1 and "no such file" in r.output
    r = _evaluate(setup, "pop", "--baseline", setup["root"], "--report", setup["root"] / "x")
    assert r.exit_code == 1 and "no per_user.npz" in r.output


def test_interest_measures_reach_json_report_and_tables(
    interest_models: dict[str, Path], tmp_path: Path
) -> None:
    keys = {
        "interest_cosine",
        "interest_jaccard@20",
        "interest_effective_k",
        "interest_label_distinct",
        "short_weight",
        "effective_interests",
        "worst_jaccard@20",
        "long_head_share@20",
    }
    rep = tmp_path / "rep-prism"
    args = ["evaluate", "-m", interest_models["prism"], "-d", interest_models["data"]]
    r = runner.invoke(app, [str(a) for a in [*args, "--json", "--report", rep]])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert keys <= set(payload) and keys <= set(payload["ci"])
    assert keys <= set(json.loads((rep / "metrics.json").read_text()))
    assert keys <= set(payload["definitions"]) and keys <= set(payload["slices"]["short_history"])
    with np.load(rep / "per_user.npz") as z:
        assert keys <= set(z.files)
    html = (rep / "report.html").read_text()
    assert "<h2>Interests</h2>" in html and "<td>short_weight</td>" in html
    assert {"interests.png", "interest_map.png", "item_map.png"} <= _pngs(rep)
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0 and "interests" in r.output and "interest_effective_k" in r.output
    assert "interest_jaccard " not in r.output  # not a row of the @k table
    pop = runner.invoke(
        app,
        [
            "evaluate",
            "-m",
            str(interest_models["pop"]),
            "-d",
            str(interest_models["data"]),
            "--json",
        ],
    )
    assert pop.exit_code == 0 and not keys & set(json.loads(pop.stdout))


def _pngs(d: Path) -> set[str]:
    return {p.name for p in d.glob("*.png")}
