"""Shared fixtures: the real shared datasets (required) and tiny hand-made ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The shared datasets; tests fail loudly (not skip) when they are missing."""
    d = Path(os.environ.get("PRISMREC_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not d.is_dir():
        pytest.fail(
            f"shared datasets not found at {d}; set PRISMREC_DATA_DIR to the folder "
            f"holding ml-100k/, ml-latest-small/ ...",
            pytrace=False,
        )
    return d


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def ml100k_recbole_prepared(tmp_path_factory: pytest.TempPathFactory, data_dir: Path):
    from prismrec.data.dataset import prepare

    out = tmp_path_factory.mktemp("ml100k")
    return prepare(data_dir / "ml-100k-recbole", out, "recbole")


TINY_CSV = """user_id,item_id,timestamp,event_type
u1,a,100,view
u1,b,200,click
u1,c,300,purchase
u1,d,400,view
u2,a,150,view
u2,b,250,view
u2,c,350,cart
u2,e,450,view
u3,b,120,view
u3,c,220,click
u3,d,320,view
u3,a,420,purchase
"""


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    p = tmp_path / "events.csv"
    p.write_text(TINY_CSV)
    return p
