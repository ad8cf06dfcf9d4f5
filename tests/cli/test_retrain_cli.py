"""``prismrec data export`` and ``prismrec train --warm-start``: the loop, and clean errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from prismrec.data.dataset import PreparedDataset
from prismrec.serving.state.store import Event, SQLiteStore
from prismrec.training.manifest import read_manifest


def run_main(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from prismrec.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def test_export_then_warm_start_from_the_command_line(
    interest_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = interest_models["data"]
    items = PreparedDataset.load(data).item_vocab.ids.tolist()
    store = SQLiteStore(tmp_path / "state.db")
    store.append([Event("newbie", i, "view", 1_900_000_000 + n) for n, i in enumerate(items[:5])])
    store.close()
    code, out, err = run_main(
        capsys, "data", "export", "--store", f"sqlite:{tmp_path / 'state.db'}",
        "--data", data, "--out", tmp_path / "live",
    )  # fmt: skip
    assert code == 0, err
    assert "new users" in out and PreparedDataset.load(tmp_path / "live").user_vocab.size == (
        PreparedDataset.load(data).n_users + 1
    )
    code, out, err = run_main(
        capsys, "train", "--data", tmp_path / "live", "--warm-start", interest_models["prism"],
        "--out", tmp_path / "b", "--epochs", "1",
    )  # fmt: skip
    assert code == 0, err
    parent = read_manifest(interest_models["prism"])
    assert parent is not None and f"warm-started from {parent.version}" in out


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("sqlite:{tmp}/missing.db", "does not exist"),
        ("postgres://db/x", "unsupported store URL"),
        ("{tmp}/state.db", "did you mean 'sqlite:"),
        ("redis://127.0.0.1:1/0", "Redis"),
    ],
)
def test_export_bad_stores_are_clean_errors(
    store: str,
    message: str,
    interest_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = store.format(tmp=tmp_path)
    code, _, err = run_main(
        capsys, "data", "export", "--store", url, "--data", interest_models["data"],
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert code == 1 and message in err and "Traceback" not in err and "unexpected" not in err
    assert not (tmp_path / "missing.db").exists()  # a missing store is not created


def test_export_and_warm_start_bad_directories_are_clean_errors(
    interest_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state.db"
    empty = SQLiteStore(db)
    empty.ping()  # creates the file
    empty.close()
    store = f"sqlite:{db}"
    cases = [
        (("data", "export", "--store", store, "--data", interest_models["prism"]), "model dir"),
        (("data", "export", "--store", store, "--data", tmp_path / "nope"), "no such path"),
        (
            ("data", "export", "--store", store, "--data", interest_models["data"]),
            "new directory",
        ),
        (
            ("train", "--data", interest_models["data"], "--warm-start", interest_models["pop"]),
            "prism and sasrec",
        ),
        (
            ("train", "--data", interest_models["data"], "--warm-start", tmp_path / "nope"),
            "not a model directory",
        ),
    ]
    for args, message in cases:
        out = interest_models["data"] if message == "new directory" else tmp_path / "out"
        code, _, err = run_main(capsys, *args, "--out", out)
        assert code == 1 and message in err and "Traceback" not in err, (args, err)
