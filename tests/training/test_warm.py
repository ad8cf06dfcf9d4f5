"""Warm start: item rows copied by id, new items from content, other architectures refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import prismrec as pr
from prismrec.errors import ConfigError
from prismrec.models.fusion import ItemTower
from prismrec.models.prism import PrismNet
from prismrec.training.manifest import read_manifest
from prismrec.training.warm import check_compatible, copy_weights


def net(n_items: int, dim: int = 8, tower: bool = False) -> PrismNet:
    torch.manual_seed(n_items)
    t = ItemTower(dim, numeric_dim=1, n_items=n_items) if tower else None
    return PrismNet(n_items, dim, max_seq_len=4, n_layers=1, n_heads=1, item_tower=t)


def test_item_rows_follow_their_ids_and_everything_else_is_copied() -> None:
    old, new = net(5), net(7)
    fresh = new.item_embedding.weight.detach().clone()  # type: ignore[union-attr]
    # old rows 1..5 are items that now sit at rows 3, 1, 2, 4, 5; rows 6, 7 are new
    rows = (np.array([1, 2, 3, 4, 5]), np.array([3, 1, 2, 4, 5]))
    report = copy_weights(new, old.state_dict(), rows, "old")
    assert (report.matched_items, report.new_items) == (5, 2)
    got, want = new.item_embedding.weight, old.item_embedding.weight  # type: ignore[union-attr]
    torch.testing.assert_close(got[[3, 1, 2, 4, 5]], want[1:])
    torch.testing.assert_close(got[6:], fresh[6:])  # new ID-only items: small random
    assert float(got[6:].detach().abs().sum()) > 0 and float(got[0].detach().abs().sum()) == 0
    for name, value in old.state_dict().items():
        if "item_embedding" not in name:
            torch.testing.assert_close(new.state_dict()[name], value)


def test_new_items_of_a_content_model_start_from_content_alone() -> None:
    old, new = net(5, tower=True), net(7, tower=True)
    copy_weights(new, old.state_dict(), (np.arange(1, 6), np.arange(1, 6)), "old")
    ids = new.item_tower.id_embedding.weight  # type: ignore[union-attr]
    torch.testing.assert_close(ids[1:6], old.item_tower.id_embedding.weight[1:6])  # type: ignore[union-attr]
    assert float(ids[6:].detach().abs().sum()) == 0.0


def test_another_architecture_is_refused_with_what_differs() -> None:
    with pytest.raises(ConfigError, match=r"embedding_dim: 8 -> 16"):
        check_compatible({"embedding_dim": 8, "n_items": 5}, {"embedding_dim": 16}, "arch", "A")
    check_compatible({"n_items": 5, "dropout": 0.1}, {"n_items": 9, "dropout": 0.2}, "arch", "A")
    with pytest.raises(ConfigError, match="shape"):
        copy_weights(net(5, dim=16), net(5).state_dict(), (np.arange(1, 6),) * 2, "A")
    with pytest.raises(ConfigError, match="do not match"):
        copy_weights(net(5, tower=True), net(5).state_dict(), (np.arange(1, 6),) * 2, "A")


def test_api_warm_start_records_the_parent_and_refuses_mismatches(
    interest_models: dict[str, Path], tmp_path: Path
) -> None:
    data, parent = interest_models["data"], interest_models["prism"]
    model = pr.train(data, warm_start=parent, out=tmp_path / "b", epochs=1)
    a, b = read_manifest(parent), read_manifest(tmp_path / "b")
    assert a is not None and b is not None and b.parent == a.version
    assert b.config["model"]["n_interests"] == 3  # the parent's own settings
    assert model.recommender.parent_version == a.version
    with pytest.raises(ConfigError, match="n_interests: 3 -> 2"):
        pr.train(data, warm_start=parent, epochs=1, n_interests=2, embedding_dim=16)
    with pytest.raises(ConfigError, match="a prism model"):
        pr.train(data, "sasrec", warm_start=parent, epochs=1)
    with pytest.raises(ConfigError, match="prism and sasrec"):
        pr.train(data, warm_start=interest_models["pop"])
    with pytest.raises(ConfigError, match="not a model directory"):
        pr.train(data, warm_start=data)
