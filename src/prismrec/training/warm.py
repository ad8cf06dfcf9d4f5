"""Warm start: a new net takes a previous model's weights, row by row for items.

Item rows are matched by external id (``data.extend`` keeps them in place, but matching by id
stays right for any dataset that shares the ids). Items the previous model never had start from
their content alone when the model has an item tower (their ID rows start at zero, the vector
the service gives a never-seen item) or from small random ID embeddings otherwise. Users need
nothing: the model reads them from their histories. Everything else must have the same shape;
a different architecture is refused with the settings that differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import nn

from prismrec.data.dataset import PreparedDataset
from prismrec.errors import ConfigError

__all__ = ["ITEM_ROW_PARAMS", "WarmStart", "check_compatible", "copy_weights"]

log = logging.getLogger(__name__)

# parameters with one row per item (row 0: padding)
ITEM_ROW_PARAMS = {
    "item_embedding.weight": False,
    "item_tower.id_embedding.weight": True,
    "event_share": True,  # prism with hub_correction: recounted from the new data by fit
}
# settings that may differ between a model and its warm start (the data grows; dropout and
# the like are training choices, not architecture)
_FREE_KEYS = {"n_items", "dropout", "id_dropout", "modality_dropout"}


@dataclass(frozen=True)
class WarmStart:
    """What a warm start copied: items matched by id, and the new ones."""

    matched_items: int
    new_items: int
    copied: int


def check_compatible(parent: dict[str, Any], child: dict[str, Any], what: str, where: str) -> None:
    """Raise a ConfigError naming the architecture settings that differ."""
    keys = sorted((set(parent) | set(child)) - _FREE_KEYS)
    diff = [k for k in keys if parent.get(k) != child.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {parent.get(k)!r} -> {child.get(k)!r}" for k in diff[:6])
        raise ConfigError(
            f"cannot warm-start from {where}: its {what} differs ({shown}); train with the "
            "same [model] settings (omit --config to reuse the model's own), or train afresh"
        )


def item_row_map(
    parent_items: pl.DataFrame, data: PreparedDataset
) -> tuple[np.ndarray, np.ndarray]:
    """(parent rows, new rows) of the items both catalogues hold, matched by id."""
    frame = parent_items.sort("item_idx")
    ids = frame.get_column("item_id").cast(pl.String).to_list()
    new = data.item_vocab.lookup(ids)
    ok = new > 0
    return frame.get_column("item_idx").to_numpy()[ok].astype(np.int64), new[ok]


def copy_weights(
    net: nn.Module,
    parent_state: dict[str, torch.Tensor],
    rows: tuple[np.ndarray, np.ndarray],
    where: str,
) -> WarmStart:
    """Load ``parent_state`` into ``net``: same-shape tensors as they are, item tables by row.

    Raises:
        ConfigError: a tensor is missing or has another shape (not the same architecture).
    """
    own = net.state_dict()
    missing = sorted(set(own) ^ set(parent_state))
    if missing:
        raise ConfigError(
            f"cannot warm-start from {where}: its weights do not match this model's "
            f"({', '.join(missing[:5])}); train afresh or use a model of the same architecture"
        )
    old_rows, new_rows = (torch.as_tensor(r) for r in rows)
    out: dict[str, torch.Tensor] = {}
    for name, value in own.items():
        old = parent_state[name]
        if old.shape[1:] != value.shape[1:] or (
            name not in ITEM_ROW_PARAMS and old.shape != value.shape
        ):
            raise ConfigError(
                f"cannot warm-start from {where}: {name} has shape {tuple(old.shape)} there and "
                f"{tuple(value.shape)} here; train afresh or keep the same architecture"
            )
        if name in ITEM_ROW_PARAMS:
            table = value.clone()
            if ITEM_ROW_PARAMS[name]:  # tower ID rows: new items start from content alone
                table.zero_()
            table[new_rows] = old[old_rows].to(table.dtype)
            table[0] = 0.0
            out[name] = table
        else:
            out[name] = old
    net.load_state_dict(out)
    n_items = next((own[n].shape[0] - 1 for n in ITEM_ROW_PARAMS if n in own), int(len(new_rows)))
    report = WarmStart(int(len(new_rows)), int(n_items - len(new_rows)), len(out))
    log.info(
        "warm start from %s: %d items matched, %d new",
        where,
        report.matched_items,
        report.new_items,
    )
    return report
