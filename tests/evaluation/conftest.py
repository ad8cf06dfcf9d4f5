"""Fixtures of the evaluation tests: a tiny dataset split by users (the future-set protocol)."""

from __future__ import annotations

import pytest

import prismrec as pr
from prismrec.data.synth import synthesize


@pytest.fixture(scope="module")
def users_split(tmp_path_factory: pytest.TempPathFactory) -> pr.Dataset:
    """200 synthetic users (items with categories, no user attributes), split by users."""
    syn = synthesize(200, 150, 4000, seed=5)
    return pr.Dataset.from_frame(
        syn.interactions.select("user_id", "item_id", "timestamp", "event_type"),
        tmp_path_factory.mktemp("fs"),
        items=syn.items.select("item_id", "category"),
        item_categorical_fields=["category"],
        split="users",
    )
