"""Without PySpark, --engine spark says what to install in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner


def test_missing_pyspark_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prismrec.cli.main import app

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\nu,b,2\n")
    args = ["data", "prepare", str(path), "--out", str(tmp_path / "o"), "--engine", "spark"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "needs PySpark" in result.output and "prismrec[spark]" in result.output
