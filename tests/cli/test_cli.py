"""The CLI end to end, as a user runs it: good paths, wrong flags, broken files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prismrec.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_end_to_end_prepare_train_recommend_evaluate(tiny_csv: Path, tmp_path: Path) -> None:
    data, model = tmp_path / "data", tmp_path / "model"
    r = run("data", "prepare", tiny_csv, "--format", "csv", "--out", data)
    assert r.exit_code == 0, r.output
    assert "n_events" in r.output
    r = run("train", "--data", data, "--model-type", "itemknn", "--out", model)
    assert r.exit_code == 0, r.output
    out = tmp_path / "recs.jsonl"
    r = run(
        "recommend", "--model", model, "--data", data, "--split", "test", "-k", "2", "--out", out
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {x["user_id"] for x in lines} == {"u1", "u2", "u3"}
    for x in lines:
        assert set(x) == {"user_id", "items", "scores"} and len(x["items"]) == len(x["scores"]) <= 2
    u1 = next(x for x in lines if x["user_id"] == "u1")
    assert not set(u1["items"]) & {"a", "b", "c"}  # seen items filtered by default
    r = run(
        "recommend", "--model", model, "--data", data, "-k", "5", "--no-filter-seen", "--out", out
    )
    assert r.exit_code == 0
    r = run(
        "evaluate",
        "--model",
        model,
        "--data",
        data,
        "--split",
        "test",
        "--json",
        "--report",
        tmp_path / "rep",
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    for key in ("ndcg@10", "recall@10", "mrr@10", "hr@10", "ndcg@20"):
        assert 0.0 <= payload[key] <= 1.0
    assert payload["protocol"] == {
        "split": "test",
        "ranking": "full",
        "seen_items_masked": True,
        "n_users": 3,
        "ks": [10, 20],
        "protocol": "leave-one-out",
    }
    assert (
        json.loads((tmp_path / "rep" / "metrics.json").read_text())["ndcg@10"] == payload["ndcg@10"]
    )


def test_check_reports_bad_rows_and_exit_codes(tmp_path: Path, tiny_csv: Path) -> None:
    r = run("data", "check", tiny_csv, "--format", "csv", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows_bad"] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\n1,a,5\n1,b,soon\n")
    r = run("data", "check", bad, "--json")
    assert r.exit_code == 1
    rep = json.loads(r.stdout)
    assert rep["rows_ok"] == 1 and rep["rows_bad"] == 1
    assert rep["errors"][0]["line"] == 3 and rep["errors"][0]["value"] == "soon"


def test_prepare_fails_on_bad_rows_unless_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\n1,a,5\n1,b,soon\n2,a,6\n2,b,7\n")
    r = run("data", "prepare", bad, "--out", tmp_path / "d")
    assert r.exit_code == 1
    assert "bad.csv:3" in r.output and "--skip-bad-rows" in r.output
    assert "Traceback" not in r.output
    r = run("data", "prepare", bad, "--out", tmp_path / "d", "--skip-bad-rows")
    assert r.exit_code == 0, r.output
    assert "skipped 1 bad row" in r.output


def test_wrong_flags_and_missing_things_are_clean_errors(tmp_path: Path, tiny_csv: Path) -> None:
    r = run("data", "prepare", tiny_csv, "--format", "excel", "--out", tmp_path)
    assert r.exit_code == 2 and "excel" in r.output
    r = run("data", "prepare", tmp_path / "nope.csv", "--out", tmp_path / "x")
    assert r.exit_code == 1 and "no such file" in r.output
    r = run("train", "--data", tmp_path, "--model-type", "itemknn", "--out", tmp_path / "m")
    assert r.exit_code == 1 and "not a prepared dataset" in r.output
    r = run("train", "--data", tmp_path, "--model-type", "nosuch", "--out", tmp_path / "m")
    assert r.exit_code == 1 and "unknown model type 'nosuch'" in r.output
    cfg = tmp_path / "c.toml"
    cfg.write_text("[data]\nmax_seq_lenn = 5\n")
    r = run("data", "prepare", tiny_csv, "--config", cfg, "--out", tmp_path / "y")
    assert r.exit_code == 1 and "max_seq_lenn" in r.output
    r = run("evaluate", "--model", tmp_path, "--data", tmp_path)
    assert r.exit_code == 1 and "not a model directory" in r.output


def test_split_flag_and_bundled_dataset(tmp_path: Path) -> None:
    r = run(
        "data",
        "prepare",
        "bundled:ml-latest-small",
        "--split-kind",
        "cold-items",
        "--out",
        tmp_path / "d",
    )
    assert r.exit_code == 0, r.output
    schema = json.loads((tmp_path / "d" / "schema.json").read_text())
    assert schema["n_events"] == 100_836 and schema["split"]["kind"] == "cold-items"


@pytest.mark.integration
def test_console_script_help_is_fast_and_errors_have_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "prismrec"
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "data" in r.stdout
    r = subprocess.run(
        [str(exe), "data", "check", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    code = "import sys, prismrec.cli.main; print('torch' in sys.modules, 'polars' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["False", "False"]  # --help does not pay for heavy imports


def test_train_prism_default_with_resume_and_restart(tiny_csv: Path, tmp_path: Path) -> None:
    data, model = tmp_path / "data", tmp_path / "model"
    assert run("data", "prepare", tiny_csv, "--out", data).exit_code == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[model]\nembedding_dim = 8\nn_layers = 1\nn_heads = 1\nn_interests = 2\n"
        "[train]\nbatch_size = 2\n"
    )
    r = run("train", "--data", data, "--config", cfg, "--epochs", "2", "--out", model)
    assert r.exit_code == 0, r.output
    meta = json.loads((model / "model.json").read_text())
    assert meta["name"] == "prism" and len(meta["history"]) == 2
    assert (model / "checkpoint" / "last.pt").is_file()
    # the same command again resumes from the checkpoint: nothing left to train
    r = run("train", "--data", data, "--config", cfg, "--epochs", "2", "--out", model)
    assert r.exit_code == 0 and len(json.loads((model / "model.json").read_text())["history"]) == 2
    r = run("train", "--data", data, "--config", cfg, "--epochs", "1", "--restart", "--out", model)
    assert r.exit_code == 0 and len(json.loads((model / "model.json").read_text())["history"]) == 1
    out = tmp_path / "r.jsonl"
    r = run("recommend", "--model", model, "--data", data, "-k", "2", "--out", out)
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 3


def test_one_off_recommend_for_a_user_or_a_raw_history(tiny_csv: Path, tmp_path: Path) -> None:
    data, model = tmp_path / "data", tmp_path / "model"
    assert run("data", "prepare", tiny_csv, "--out", data).exit_code == 0
    assert run("train", "--data", data, "--model-type", "itemknn", "--out", model).exit_code == 0
    r = run("recommend", "--model", model, "--user", "u1", "-k", "2")
    assert r.exit_code == 0, r.output
    ans = json.loads(r.stdout)
    assert ans["user_id"] == "u1" and 0 < len(ans["items"]) <= 2
    assert not {x["item_id"] for x in ans["items"]} & {"a", "b", "c"}  # u1's history is filtered
    r = run("recommend", "--model", model, "--user", "newcomer", "--history", "a,b", "-k", "3")
    assert r.exit_code == 0, r.output
    assert {x["item_id"] for x in json.loads(r.stdout)["items"]} <= {"c", "d", "e"}
    r = run("recommend", "--model", model, "--history", "a,zzz")
    assert r.exit_code == 1 and "unknown item id(s) in history: zzz" in r.output
    r = run("recommend", "--model", model, "--user", "nobody")
    assert r.exit_code == 1 and "unknown user 'nobody'" in r.output
    r = run("recommend", "--model", model)
    assert r.exit_code == 1 and "--data DATA_DIR and --out" in r.output


# ---- unexpected errors: one line, never a traceback (issue 15, item 11) -------------------
def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from prismrec.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["taobao", "seqtxt", "pairtxt"])
def test_one_file_formats_on_a_directory_are_clean_errors(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("u1 i1\n")
    (tmp_path / "b.csv").write_text("x,y\n")
    code, err = run_main(capsys, "data", "check", tmp_path, "--format", fmt)
    assert code == 1
    assert "is a directory" in err and "Traceback" not in err and "unexpected" not in err


def test_taobao_directory_with_its_usual_file_is_read(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(
        capsys, "data", "check", data_dir / "taobao-userbehavior-head", "--format", "taobao"
    )
    assert code == 1  # the real head file ends in a truncated line: reported, not a crash
    assert "truncated line" in err and "Traceback" not in err


def test_serve_log_level_is_a_choice(tmp_path: Path) -> None:
    r = run("serve", "--model", tmp_path, "--log-level", "loud")
    assert r.exit_code == 2 and "loud" in r.output


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a real unexpected error, not a mock: reading /proc/self/mem from offset 0 fails with EIO
    code, err = run_main(capsys, "data", "check", "/proc/self/mem", "--format", "pairtxt")
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "unexpected OSError" in err and "--debug" in err
    from prismrec.cli.main import main

    with pytest.raises(OSError, match="Input/output error"):
        main(["--debug", "data", "check", "/proc/self/mem", "--format", "pairtxt"])
