"""The service's item index, built once per model and kept next to it for fast restarts.

Building HNSW over a million items takes minutes on two cores; loading it takes seconds. The
built index is saved under ``MODEL_DIR/index-cache/<kind>-<digest>/``, where the digest covers
the item vectors and the build settings, so a retrained model or other settings never load a
stale index. Items added through the API are not in the cache: the item log replays them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from prismrec.retrieval.index import IndexSettings, ItemIndex, index_item_table, load_index

__all__ = ["item_index"]

log = logging.getLogger(__name__)
_SEARCH_ONLY = ("ef_search", "nprobe", "background_rebuild", "threads")


def _digest(table: np.ndarray, kind: str, settings: IndexSettings) -> str:
    build = {k: v for k, v in dataclasses.asdict(settings).items() if k not in _SEARCH_ONLY}
    h = hashlib.sha256(np.ascontiguousarray(table, dtype=np.float32).tobytes())
    h.update(json.dumps({"kind": kind, **build}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def item_index(
    table: np.ndarray, kind: str, settings: IndexSettings, model_dir: Path
) -> tuple[ItemIndex, str]:
    """The index over rows ``1..N`` of ``table`` and where it came from (built/cache/exact)."""
    n = len(table) - 1
    if kind == "auto":
        kind = "exact" if n < settings.exact_below else "hnsw"
    if kind == "exact":  # a matrix product needs no build
        return index_item_table(table, "exact", settings), "exact"
    root = model_dir / "index-cache"
    where = root / f"{kind}-{_digest(table, kind, settings)}"
    if (where / "index.json").is_file():
        try:
            index = load_index(where)
            set_params = getattr(index, "set_search_params", None)
            if set_params is not None:
                set_params(ef_search=settings.ef_search, nprobe=settings.nprobe)
            return index, "cache"
        except Exception as exc:  # noqa: BLE001 (a damaged cache is rebuilt, not fatal)
            log.warning("ignoring the index cache %s: %s", where, exc)
    index = index_item_table(table, kind, settings)  # type: ignore[arg-type]
    try:
        if root.is_dir():  # one cached index per model: drop older ones
            shutil.rmtree(root)
        tmp = root / f".{where.name}.tmp"
        index.save(tmp)
        tmp.rename(where)
    except OSError as exc:  # a read-only model directory still serves
        log.warning("could not cache the index in %s: %s", root, exc)
    return index, "built"
