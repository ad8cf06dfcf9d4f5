"""Fixtures for content tests: a fake text encoder and a tiny prepared catalogue."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest


class FakeEncoder:
    """Deterministic hash-based vectors; records every text it is asked to encode."""

    def __init__(self, model_id: str = "fake-model", dim: int = 8) -> None:
        self.model_id = model_id
        self.dim = dim
        self.calls: list[list[str]] = []

    @property
    def n_texts(self) -> int:
        return sum(len(c) for c in self.calls)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.md5(t.encode()).digest()[:4], "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def make_encoder():
    """``make_encoder(model_id="fake-model", dim=8)`` -> a :class:`FakeEncoder`."""
    return FakeEncoder


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def tiny_catalogue():
    """``tiny_catalogue(n_items)`` -> a polars frame of n items with every modality."""
    return catalogue


GENRES = [["Animation", "Children"], ["Drama"], ["Comedy", "Drama"], ["Animation"], []]


def catalogue(n_items: int) -> pl.DataFrame:
    """Items i0..i{n-1}: title, year (some missing), genres, tags, 4-dim image (some missing)."""
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"Movie number {i}" for i in range(n_items)],
            "year": [None if i % 7 == 3 else 1950.0 + i for i in range(n_items)],
            "genres": [GENRES[i % len(GENRES)] for i in range(n_items)],
            "tags": [["funny"] if i % 3 == 0 else [] for i in range(n_items)],
            "image": [
                None if i % 4 == 1 else rng.standard_normal(4).tolist() for i in range(n_items)
            ],
        },
        schema_overrides={"image": pl.List(pl.Float64)},
    )


def write_dataset(root: Path, n_items: int) -> Path:
    """Raw Parquet files (interactions + items) for ``prepare(root, out, 'parquet', cfg)``."""
    root.mkdir(parents=True, exist_ok=True)
    items = catalogue(n_items)
    items.write_parquet(root / "items.parquet")
    users = [f"u{u}" for u in range(5)]
    events = pl.DataFrame(
        {
            "user_id": [users[j % 5] for j in range(n_items * 2)],
            "item_id": [f"i{j % n_items}" for j in range(n_items * 2)],
            "timestamp": list(range(n_items * 2)),
        }
    )
    events.write_parquet(root / "interactions.parquet")
    return root


@pytest.fixture
def make_prepared(tmp_path: Path):
    """``make_prepared(n_items, out=None)`` -> a PreparedDataset with content columns."""
    from prismrec.config import DataConfig
    from prismrec.data.dataset import prepare

    cfg = DataConfig(
        item_text_fields=["title"],
        item_multi_fields=["genres", "tags"],
        item_numeric_fields=["year"],
        item_vector_fields=["image"],
    )

    def make(n_items: int, out: Path | None = None):
        raw = write_dataset(tmp_path / f"raw{n_items}", n_items)
        return prepare(raw, out or tmp_path / f"prepared{n_items}", "parquet", cfg)

    return make


@pytest.fixture(scope="session")
def minilm():
    """The real bundled all-MiniLM-L6-v2 encoder, loaded once per session."""
    from prismrec.content import TextEncoder

    return TextEncoder(threads=1)
