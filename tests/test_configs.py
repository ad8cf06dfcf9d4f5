"""Every shipped config loads and prepares its dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from prismrec.config import load_config
from prismrec.data.dataset import prepare
from prismrec.data.loaders import load

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_config_is_valid(name: str) -> None:
    load_config(CONFIGS / name)


def test_taobao_config_prepares_real_file(tmp_path: Path, data_dir: Path) -> None:
    cfg = load_config(CONFIGS / "taobao.toml").data
    r = load(data_dir / "taobao-userbehavior-head" / "UserBehavior.csv", "taobao", cfg)
    ds = prepare(
        data_dir / "taobao-userbehavior-head" / "UserBehavior.csv",
        tmp_path,
        "taobao",
        cfg,
        skip_bad_rows=True,
    )
    assert r.rows_bad == 1 and ds.schema["split"]["kind"] == "temporal"
    f = ds.frame
    assert f.group_by("item_idx").len().get_column("len").min() >= 5
    assert f.group_by("user_idx").len().get_column("len").min() >= 5
