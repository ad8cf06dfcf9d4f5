"""Report directories: files written, HTML references every PNG, runs read back, run record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from prismrec.evaluation.beyond import Catalog
from prismrec.evaluation.protocol import FullResult, evaluate_full
from prismrec.evaluation.report import (
    ItemMap,
    load_run,
    protocol_label,
    run_record,
    save_per_user,
    write_report,
)

BAGS = np.array([[0], [1], [1], [2], [2], [3], [3]])  # items 1,2: A; 3,4: B; 5,6: C


@dataclass
class Cases:
    users: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]

    def inputs(self) -> list[np.ndarray]:
        return self.histories


class Lists:
    """Returns fixed top lists: user 0 gets [2, 3, 4], user 1 gets [5, 4, 3]."""

    n_items = 6

    def recommend(self, histories, k=10, filter_seen=True, items=None, users=None):  # noqa: ANN001, ANN201
        ids = np.array([[2, 3, 4], [5, 4, 3]])[np.asarray(users)]
        return ids, np.tile([3.0, 2.0, 1.0], (len(ids), 1))


@pytest.fixture
def result() -> FullResult:
    cat = Catalog(6, np.array([0, 2, 2, 1, 1, 0, 0]), 2, BAGS, ["A", "B", "C"], "category")
    cases = Cases(np.array([0, 1]), [np.array([1]), np.array([6])], [np.array([3]), np.array([1])])
    slices = {"first": np.array([True, False]), "empty": np.array([False, False])}
    return evaluate_full(Lists(), cases, ks=(10, 20), catalog=cat, slices=slices)


def _item_map() -> ItemMap:
    rng = np.random.default_rng(0)
    return ItemMap(
        vectors=rng.normal(size=(7, 4)),
        labels=BAGS[:, 0],
        label_names=["A", "B", "C"],
        history=np.array([1, 2]),
        recommended=np.array([3, 4, -1]),
        interests=rng.normal(size=(2, 4)),
        interest_weights=np.array([0.7, 0.3]),
        source="test vectors",
        user="u1",
    )


def _pngs_referenced(html: str) -> set[str]:
    return set(re.findall(r"href='([^']+\.png)'", html))


def test_full_report_files_and_html_references_every_png(result: FullResult, tmp_path: Path):
    history = [{"epoch": 1, "loss": 2.0, "valid_ndcg@10": 0.1}, {"epoch": 2, "loss": 1.5}]
    curve = [(0.0, 0.30, 0.50), (0.5, 0.28, 0.62), (1.0, 0.22, 0.75)]
    run = run_record(result.protocol, {"source_md5": "abc", "config": {"seed": 42}})
    files = write_report(
        tmp_path / "rep",
        result,
        model="fixed",
        user_ids=["u1", "u2"],
        run=run,
        history=history,
        curve=curve,
        item_map=_item_map(),
    )
    out = tmp_path / "rep"
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == {"metrics.png", "slices.png", "tradeoff.png", "training.png", "item_map.png"}
    for name in ("metrics.json", "per_user.npz", "run.json", "report.html"):
        assert (out / name).is_file() and files[name] == out / name
    html = (out / "report.html").read_text()
    assert _pngs_referenced(html) == pngs
    assert html.count("data:image/png;base64,") == len(pngs)  # self-contained
    assert "full ranking" in html and "not included" not in html
    metrics = json.loads((out / "metrics.json").read_text())  # strict JSON: no NaN
    assert metrics["model"] == "fixed" and metrics["ndcg@10"] == pytest.approx(
        result.metrics["ndcg@10"]
    )
    assert metrics["slices"]["empty"] == {"n_users": 0}
    assert metrics["protocol"]["ranking"] == "full"
    lo, hi = metrics["ci"]["ndcg@10"]
    assert lo <= metrics["ndcg@10"] <= hi


def test_report_without_optional_inputs_says_what_it_skipped(result: FullResult, tmp_path: Path):
    write_report(tmp_path, result, model="fixed", user_ids=["u1", "u2"])
    html = (tmp_path / "report.html").read_text()
    assert {p.name for p in tmp_path.glob("*.png")} == {"metrics.png", "slices.png"}
    assert _pngs_referenced(html) == {"metrics.png", "slices.png"}
    assert "Accuracy-diversity curve: not included, the model has no re-ranker" in html
    assert "Training curves: not included" in html and "Item map: not included" in html
    assert not (tmp_path / "run.json").exists()


def test_runs_round_trip_and_baselines_are_drawn(result: FullResult, tmp_path: Path) -> None:
    write_report(tmp_path / "a", result, model="fixed", user_ids=["u1", "u2"])
    run = load_run(tmp_path / "a")
    assert run.model == "fixed" and run.user_ids == ["u1", "u2"]
    assert set(run.per_user) == set(result.per_user)
    np.testing.assert_array_equal(run.per_user["ndcg@10"], result.per_user["ndcg@10"])
    files = write_report(
        tmp_path / "b", result, model="other", user_ids=["u1", "u2"], baselines={"fixed": run}
    )
    assert "Compared with: fixed" in files["report.html"].read_text()
    with pytest.raises(FileNotFoundError, match="no per_user.npz"):
        load_run(tmp_path / "missing")


def test_per_user_npz_keeps_string_ids(tmp_path: Path) -> None:
    p = save_per_user(tmp_path / "pu.npz", ["007", "x"], {"ndcg@10": np.array([0.5, np.nan])})
    with np.load(p, allow_pickle=False) as z:
        assert z["user_id"].tolist() == ["007", "x"] and np.isnan(z["ndcg@10"][1])


def test_run_record_has_what_reproduction_needs(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(
        json.dumps({"name": "itemknn", "model": {"neighbours": 5}, "train": {"seed": 1}})
    )
    schema = {
        "source_md5": "d41d8",
        "sources": ["x.csv"],
        "split": {"kind": "cold-items", "seed": 7, "cold_items": [1, 2, 3]},
        "config": {"seed": 7, "split": "cold-items"},
    }
    rec = run_record({"split": "test", "ranking": "full"}, schema, tmp_path, "data")
    assert rec["model"]["name"] == "itemknn" and rec["model"]["config"] == {"neighbours": 5}
    assert rec["data"]["source_md5"] == "d41d8" and rec["data"]["split_seed"] == 7
    assert rec["data"]["split"] == {"kind": "cold-items", "seed": 7, "n_cold_items": 3}
    assert rec["data"]["config"]["split"] == "cold-items"
    assert rec["code"]["prismrec_version"] and "git_commit" in rec["code"]
    for lib in ("python", "numpy", "torch", "polars"):
        assert rec["libraries"][lib]


def test_protocol_label_names_the_ranking() -> None:
    p = {"split": "valid", "ranking": "sampled-100", "seen_items_masked": False, "n_users": 1234}
    assert protocol_label(p) == "valid split, sampled-100 ranking, seen items kept, 1,234 users"


def test_interests_section_with_distributions_and_interest_map(
    result: FullResult, tmp_path: Path
) -> None:
    measures = {
        "interest_cosine": np.array([0.9, 0.1]),
        "interest_jaccard@20": np.array([0.8, 0.0]),
        "interest_effective_k": np.array([1.2, 1.9]),
        "interest_label_distinct": np.array([0.0, 1.0]),
    }
    result.per_user.update(measures)
    result.metrics.update({k: float(v.mean()) for k, v in measures.items()})
    m = _item_map()
    m.interest_items, m.interest_labels = np.array([[3, 4], [5, 4]]), ["A / B", "C / B"]
    history = [{"epoch": 1, "loss": 2.0, "valid_ndcg@10": 0.1, "valid_interest_cosine": 0.9}]
    write_report(
        tmp_path, result, model="fixed", user_ids=["u1", "u2"], item_map=m, history=history
    )
    html = (tmp_path / "report.html").read_text()
    assert {"interests.png", "interest_map.png", "training.png"} <= _pngs_referenced(html)
    section = html[html.index("<h2>Interests</h2>") : html.index("<h2>Figures</h2>")]
    assert all(f"<td>{k}</td>" in section for k in measures) and "interests.png" in section
    metrics_table = html[html.index("<h2>Metrics</h2>") : html.index("<h2>Interests</h2>")]
    assert "interest_cosine" not in metrics_table  # in its own section, not among accuracy
    ci = json.loads((tmp_path / "metrics.json").read_text())["ci"]
    assert set(measures) <= set(ci)


def test_no_interests_section_without_interest_measures(result: FullResult, tmp_path: Path):
    write_report(tmp_path, result, model="fixed", user_ids=["u1", "u2"], item_map=_item_map())
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Interests</h2>" not in html and not (tmp_path / "interests.png").exists()
