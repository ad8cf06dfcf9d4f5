"""``prismrec interests``: the JSON lines it writes, its summary, and its clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prismrec.cli.main import app
from prismrec.data.dataset import PreparedDataset

runner = CliRunner()


def run(*args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


def fails(code: int, words: str, *args: object) -> None:
    """The command exits with ``code`` and one line naming ``words``, no traceback."""
    r = run("interests", *args)
    assert r.exit_code == code, r.output
    assert words in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_writes_one_line_per_user_with_external_ids(
    interest_models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "sub" / "interests.jsonl"
    data = interest_models["data"]
    r = run(
        "interests", "--model", interest_models["prism"], "--data", data, "-k", "5", "--out", out
    )
    assert r.exit_code == 0, r.output
    for key in ("interest_cosine", "interest_jaccard@5", "interest_effective_k"):
        assert key in r.output
    assert "interest_label_distinct" in r.output and "wrote the interests of" in r.output
    for key in ("short_weight", "effective_interests", "worst_jaccard@5", "long_head_share@5"):
        assert key in r.output
    for key in ("long_hit_share@10", "long_hit_share_pooled@20"):  # the test split's hits
        assert key in r.output
    ds = PreparedDataset.load(data)
    cases = ds.eval_cases("test")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["user_id"] for x in lines] == ds.user_vocab.external(cases.users)
    known = set(ds.item_vocab.external(range(1, ds.n_items + 1)))
    for line, history in zip(lines, cases.histories, strict=True):
        assert set(line) == {"user_id", "interests"}
        assert [i["term"] for i in line["interests"]] == ["long", "long", "long", "short"]
        seen = set(ds.item_vocab.external(history))
        assert sum(i["weight"] for i in line["interests"]) == pytest.approx(1.0, abs=1e-3)
        for interest in line["interests"]:
            assert set(interest) == {"weight", "term", "active", "label", "items"}
            assert interest["active"]  # every interest is held without dynamic_interests
            assert len(interest["items"]) == 5 and set(interest["items"]) <= known
            assert not set(interest["items"]) & seen  # the history is masked
            assert isinstance(interest["label"], str) and interest["label"]


def test_errors_are_one_clean_line(
    interest_models: dict[str, Path], tmp_path: Path, tiny_csv: Path
) -> None:
    data, out, prism = interest_models["data"], tmp_path / "x.jsonl", interest_models["prism"]
    fails(1, "no interest vectors", "--model", interest_models["pop"], "--data", data, "-o", out)
    fails(1, "1 interest per user", "--model", interest_models["sasrec"], "--data", data, "-o", out)
    wrong = ("--split", "train", "--out", out)
    fails(2, "'train' is not one of 'valid', 'test'", "--model", prism, "--data", data, *wrong)
    other = tmp_path / "other"
    assert run("data", "prepare", tiny_csv, "--out", other).exit_code == 0
    fails(1, "the prepared dataset the model was trained on", "-m", prism, "-d", other, "-o", out)
    fails(1, "not a model directory", "--model", tmp_path / "nope", "--data", data, "-o", out)
    fails(1, "not a prepared dataset", "--model", prism, "--data", tmp_path / "nope", "-o", out)
    assert not out.exists()


def test_without_out_prints_the_measures_only(interest_models: dict[str, Path]) -> None:
    r = run("interests", "--model", interest_models["prism"], "--data", interest_models["data"])
    assert r.exit_code == 0, r.output
    assert "short_weight" in r.output and "wrote the interests" not in r.output
