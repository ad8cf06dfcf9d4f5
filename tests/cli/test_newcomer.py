"""A newcomer's mistakes: each is one line that says what to do, a non-zero exit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from tests.conftest import TINY_CSV
from typer.testing import CliRunner

from prismrec.cli.main import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw CSV, its prepared dataset and an itemknn model, side by side in one runs/ folder."""
    root = tmp_path_factory.mktemp("runs")
    (root / "raw").mkdir()
    (root / "raw" / "events.csv").write_text(TINY_CSV)
    paths = {"raw": root / "raw", "data": root / "shop", "model": root / "shop-itemknn"}
    assert (
        run("data", "prepare", paths["raw"] / "events.csv", "--out", paths["data"]).exit_code == 0
    )
    r = run("train", "-d", paths["data"], "-t", "itemknn", "-o", paths["model"])
    assert r.exit_code == 0, r.output
    return paths


def one_line_error(r, code: int, *words: str) -> str:
    assert r.exit_code == code, r.output
    text = r.output.strip()
    assert len(text.splitlines()) == 1, text
    assert text.startswith("error: ") and "Traceback" not in text, text
    for w in words:
        assert w in text, (w, text)
    return text


def test_wrong_paths_name_the_path_and_what_exists(trained: dict[str, Path]) -> None:
    one_line_error(
        run("data", "prepare", trained["raw"] / "event.csv", "-o", trained["raw"] / "x"),
        1,
        "event.csv: no such file",
        "events.csv",  # the folder's files are listed
    )
    missing = trained["model"].with_name("shop-itemknm")
    one_line_error(
        run("evaluate", "-m", missing, "-d", trained["data"]),
        1,
        "not a model directory (no such path)",
        f"model directories nearby: {trained['model']}",
    )
    one_line_error(
        run("evaluate", "-m", trained["model"], "-d", trained["data"].with_name("shp")),
        1,
        "not a prepared dataset (no such path)",
        f"prepared datasets nearby: {trained['data']}",
    )


def test_wrong_format_suggests_the_detected_one(trained: dict[str, Path], tmp_path: Path) -> None:
    csv = trained["raw"] / "events.csv"
    for fmt in ("movielens-100k", "taobao", "recbole"):
        one_line_error(
            run("data", "prepare", csv, "--format", fmt, "-o", tmp_path / fmt),
            1,
            "looks like 'csv' data: pass --format csv",
        )
    one_line_error(
        run("data", "prepare", csv, "--format", "excel", "-o", tmp_path / "x"),
        2,
        "'excel' is not one of",
        "see 'prismrec data prepare --help'",
    )


def test_data_dir_as_model_dir_and_model_dir_as_data_dir(trained: dict[str, Path]) -> None:
    data, model = trained["data"], trained["model"]
    text = one_line_error(
        run("evaluate", "-m", data, "-d", data), 1, "prepared dataset", "pass it as --data"
    )
    # the hint writes the model beside the data, never over it
    assert f"--out {data}-prism" in text and f"--out {data}'" not in text
    one_line_error(
        run("evaluate", "-m", model, "-d", model),
        1,
        "model directory: pass it as --model",
        f"trained on {data}",
    )
    one_line_error(run("recommend", "-m", data, "--user", "u1"), 1, "pass it as --data")
    one_line_error(
        run("train", "-d", data, "-t", "pop", "-o", data), 1, f"--out {data}-pop", "prepared"
    )
    one_line_error(run("train", "-d", trained["raw"], "-o", "m"), 1, "prismrec data prepare")
    one_line_error(
        run("data", "prepare", model, "-o", "x"), 1, "model directory, not raw data", "--model"
    )


def test_bad_numbers_splits_and_model_types(trained: dict[str, Path], tmp_path: Path) -> None:
    data, model = trained["data"], trained["model"]
    for args in (("recommend", "-m", model, "--user", "u1", "-k", "0"),):
        one_line_error(run(*args), 2, "'-k'", "greater than or equal to 1")
    one_line_error(
        run("evaluate", "-m", model, "-d", data, "--split", "train"),
        2,
        "'train' is not one of 'valid', 'test'",
    )
    one_line_error(
        run("train", "-d", data, "-t", "transformer", "-o", tmp_path / "m"),
        1,
        "unknown model type 'transformer'; use one of: bpr, itemknn, pop, prism, sasrec",
    )
    one_line_error(
        run("recommend", "-m", model, "--user", "nobody"), 1, "unknown user 'nobody'", "--history"
    )
    one_line_error(
        run("recommend", "-m", model, "--history", "a,zz"), 1, "unknown item id(s) in history: zz"
    )
    one_line_error(run("evaluate", "-m", model), 2, "Missing option '--data'")


def test_config_mistakes_are_one_line_without_pydantic_noise(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[data]\nevent_weights = { view = -1 }\n")
    text = one_line_error(
        run("data", "prepare", trained["raw"] / "events.csv", "-c", cfg, "-o", tmp_path / "d"),
        1,
        "event_weights: event weights must be >= 0",
    )
    assert "Value error" not in text
    cfg.write_text("[serve]\nmax_kk = 3\n")
    one_line_error(run("config", "show", "-c", cfg), 1, "serve.max_kk: unknown key")
    one_line_error(run("config", "show", "-c", tmp_path), 1, "is a directory")


def test_old_spellings_still_work_with_a_note(trained: dict[str, Path], tmp_path: Path) -> None:
    r = run("train", "-d", trained["data"], "--model", "pop", "-o", tmp_path / "pop")
    assert r.exit_code == 0, r.output
    assert "--model NAME is deprecated; use --model-type NAME" in r.output
    assert json.loads((tmp_path / "pop" / "model.json").read_text())["name"] == "pop"
    r = run(
        "data", "prepare", trained["raw"] / "events.csv", "--split", "ratio", "-o", tmp_path / "d"
    )
    assert r.exit_code == 0 and "use --split-kind KIND" in r.output
    schema = json.loads((tmp_path / "d" / "schema.json").read_text())
    assert schema["split"]["kind"] == "ratio"


def _options(cmd, path: str = "prismrec"):
    for p in cmd.params:
        yield path, p
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _options(sub, f"{path} {name}")


def test_every_option_has_help_and_help_text_prints_as_written() -> None:
    root = typer.main.get_command(app)
    missing = [
        f"{path} {p.opts[0]}"
        for path, p in _options(root)
        if p.param_type_name == "option" and not getattr(p, "help", None)
    ]
    assert not missing, missing
    r = run("content", "encode", "--help")
    assert r.exit_code == 0 and "[content]" in r.output  # rich markup does not eat it
    r = run("serve", "--help")
    assert "[serve]" in r.output and "PRISMREC_*" in r.output


def test_the_model_types_in_the_help_are_the_registered_ones() -> None:
    from prismrec.cli.train import MODEL_TYPES
    from prismrec.training import registry

    assert set(MODEL_TYPES) == set(registry())
