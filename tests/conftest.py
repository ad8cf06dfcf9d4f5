"""Shared fixtures: the real shared datasets and tiny hand-made ones.

Tests that read the shared datasets (through the ``data_dir`` fixture, directly or through another
fixture) are marked ``integration`` here, so ``pytest -m "not integration"`` (``make test-fast``)
runs without them; ``make test`` runs everything and fails loudly when the datasets are missing.
"""

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


# fixtures that read the shared datasets; a test using any of them is an integration test
SHARED_DATA_FIXTURES = frozenset({"data_dir", "ml100k_recbole_prepared"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SHARED_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session")
def interest_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic dataset (items with categories) and three saved models on it.

    ``prism``: K = 3 interests, 2 epochs (a validation row per epoch); ``sasrec``: K = 1;
    ``pop``: no interests. Keys: ``data``, ``prism``, ``sasrec``, ``pop`` (directories).
    """
    from prismrec.config import ModelConfig, TrainConfig, load_config
    from prismrec.data.dataset import prepare
    from prismrec.data.synth import synthesize
    from prismrec.training import MostPopular, PrismRecommender, SASRec

    root = tmp_path_factory.mktemp("interests")
    synthesize(120, 80, 2400, seed=3, out_dir=root / "raw")
    ds = prepare(
        root / "raw", root / "data", "parquet", load_config(root / "raw" / "prismrec.toml").data
    )
    small = ModelConfig(
        embedding_dim=16, n_layers=1, n_heads=1, n_interests=3, use_content=False, dropout=0.0
    )
    fast = TrainConfig(epochs=2, batch_size=64, learning_rate=5e-3, warmup_ratio=0.0, seed=7)
    PrismRecommender(small, fast).fit(ds).save(root / "prism")
    SASRec(small, fast.model_copy(update={"epochs": 1})).fit(ds).save(root / "sasrec")
    MostPopular().fit(ds).save(root / "pop")
    return {"data": root / "data", **{m: root / m for m in ("prism", "sasrec", "pop")}}
