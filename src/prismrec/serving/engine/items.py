"""Items that come and go while the service runs: put, delete, and what other replicas logged.

Every change goes through the store's item log first, then to this replica's catalogue, model
table, index and scoring statistics; other replicas replay the log (``sync``), so all of them
serve the same catalogue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prismrec.data.vocab import scored_items
from prismrec.errors import DataError, UnknownIdError
from prismrec.retrieval._backends import RWLock
from prismrec.retrieval.index import ItemIndex
from prismrec.retrieval.pipeline import Retriever
from prismrec.retrieval.priors import ScorePriors
from prismrec.serving.engine._encoder import InterestEncoder
from prismrec.serving.engine.catalog import ItemEncoder, LiveCatalog, check_item_fields
from prismrec.serving.engine.coldstart import PopularityPrior
from prismrec.serving.state import EventStore, ItemChange, check_id

__all__ = ["LiveItems"]

log = logging.getLogger(__name__)


@dataclass
class LiveItems:
    """The live catalogue and everything that must follow it, behind one read-write lock.

    Attributes:
        catalog: item ids, fields and which rows are live.
        index: the item index the retriever searches.
        encoder: the model's item table at serving time.
        item_encoder: encodes a new item's content (``None``: the model has no content tower).
        priors: the scorer's catalogue statistics.
        popularity: the cold-start lists' counts (grown with the catalogue).
        retriever: reads the catalogue's metadata.
        store: the item log.
        sync_s: how often (seconds) a request checks the log for other replicas' changes.
    """

    catalog: LiveCatalog
    index: ItemIndex
    encoder: InterestEncoder
    item_encoder: ItemEncoder | None
    priors: ScorePriors
    popularity: PopularityPrior
    retriever: Retriever
    store: EventStore
    sync_s: float

    def __post_init__(self) -> None:
        self.lock = RWLock()  # writers: item changes; readers: every search and scoring
        self._seq = 0
        self._synced_at = 0.0

    def sync(self, force: bool = False) -> None:
        """Apply item changes other replicas logged since the last sync."""
        now = time.monotonic()
        if not force and now - self._synced_at < self.sync_s:
            return
        self._synced_at = now
        changes = self.store.item_changes(self._seq)
        if changes:
            self.apply(changes)

    def apply(self, changes: Sequence[ItemChange]) -> None:
        """Bring catalogue, table, index and statistics up to ``changes`` (logged already)."""
        with self.lock.write():
            self._upsert([c for c in changes if c.fields is not None])
            for c in changes:
                if c.fields is None:
                    self._remove(c.item_id)
            self.retriever.metadata = self.catalog.metadata
            self._seq = max(self._seq, max(c.seq for c in changes))

    def _upsert(self, upserts: list[ItemChange]) -> None:
        if upserts and self.item_encoder is None:
            log.warning("ignoring %d logged items: this model cannot encode content", len(upserts))
            return
        records = []
        for c in upserts:
            row, _ = self.catalog.upsert(c.item_id, c.fields or {})
            records.append((row, c.item_id, c.fields or {}))
        if not records:
            return
        assert self.item_encoder is not None
        vecs = self.item_encoder.encode(records)
        rows = np.asarray([r for r, _, _ in records], np.int64)
        present = np.asarray([r in self.index for r in rows.tolist()])
        # the scorer's catalogue statistics follow the index: old out, new in
        old = self.encoder.table[rows[present]].numpy()
        self.priors.moments.remove(rows[present], old)
        self.priors.moments.add(rows, vecs)
        self.encoder.set_items(rows, vecs)
        if present.any():
            self.index.update(rows[present], vecs[present])
        if (~present).any():
            self.index.add(rows[~present], vecs[~present])
        self.popularity.grow(self.catalog.n_rows)

    def _remove(self, item_id: str) -> None:
        row = self.catalog.remove(item_id)
        if row and row in self.index:
            self.index.remove(np.asarray([row]))
            self.priors.moments.remove(np.asarray([row]), self.encoder.table[[row]].numpy())

    def put(self, item_id: str, fields: Any) -> dict[str, Any]:
        """Add or replace an item from its catalogue fields; searchable when this returns."""
        check_id("item_id", item_id)
        if self.item_encoder is None:
            raise DataError(
                "this model has no content tower, so items cannot be added from content; "
                "train prism on a catalogue with item content"
            )
        clean = check_item_fields(fields, self.catalog)
        existed = self.catalog.is_live(self.catalog.index(item_id))
        seq = self.store.put_item(item_id, clean)
        self.apply([ItemChange(seq, item_id, clean)])
        return {"item_id": item_id, "created": not existed, "n_items": len(self.catalog)}

    def delete(self, item_id: str) -> dict[str, Any]:
        """Take an item out of every list from now on."""
        if not self.catalog.is_live(self.catalog.index(item_id)):
            raise UnknownIdError(f"unknown item {item_id!r}")
        seq = self.store.put_item(item_id, None)
        self.apply([ItemChange(seq, item_id, None)])
        return {"item_id": item_id, "deleted": True, "n_items": len(self.catalog)}

    def rows(self, item_ids: Sequence[str]) -> list[int]:
        """Rows of live items (for allow-lists); unknown ids are left out."""
        rows = [self.catalog.index(i) for i in item_ids]
        return [r for r in rows if self.catalog.is_live(r)]

    def similar(self, item_id: str, k: int) -> dict[str, Any]:
        """The ``k`` items nearest ``item_id`` in the index."""
        self.sync()
        row = self.catalog.index(item_id)
        if not self.catalog.is_live(row):
            raise UnknownIdError(f"unknown item {item_id!r}")
        with self.lock.read():
            vec = self.index.vectors(np.asarray([row]))
            ids, scores = self.index.search(vec, k, [[row]])
        ok = ids[0] >= 0
        return {
            "item_id": item_id,
            "items": scored_items(self.catalog.external(ids[0][ok]), scores[0][ok]),
        }
