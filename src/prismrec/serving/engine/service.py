"""The recommender service: model, item index, live events and caches behind plain methods.

The HTTP layer (:mod:`prismrec.serving.http.app`) only parses requests and calls these methods, so
the service is usable (and tested) without HTTP as well.

Freshness: a user's interest vectors are cached with the store version they were computed at; a
request reads the current version (one indexed lookup) and recomputes only when an event arrived
since, on this replica or on any other sharing the store.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prismrec.data.vocab import IdMaps
from prismrec.errors import ConfigError, DataError, UnknownIdError
from prismrec.models.interests import held
from prismrec.retrieval.context import ContextBudget
from prismrec.retrieval.explain import label_interests
from prismrec.retrieval.index import IndexSettings
from prismrec.retrieval.pipeline import Request, Retriever
from prismrec.retrieval.priors import ScorePriors
from prismrec.serving.engine._encoder import InterestEncoder
from prismrec.serving.engine._history import Featurizer, concat
from prismrec.serving.engine._index import item_index
from prismrec.serving.engine.catalog import ItemEncoder, LiveCatalog, load_items
from prismrec.serving.engine.cold_lists import ColdLists
from prismrec.serving.engine.coldstart import PopularityPrior, profile_vocab
from prismrec.serving.engine.items import LiveItems
from prismrec.serving.engine.users import UserCache, UserState
from prismrec.serving.engine.versions import ModelInfo, model_info
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state import (
    Backend,
    Event,
    EventStore,
    check_id,
    open_store,
)
from prismrec.training.base import Recommender
from prismrec.training.contract import as_sequence_model

__all__ = ["Service"]

log = logging.getLogger(__name__)


class Service:
    """Loads everything once (``start``), then answers requests from many threads.

    Args:
        settings: the service settings.
        backend: the storage opened from ``settings.store``, shared with the app's other
            features (and the other models an app serves); default: the service opens its own.
    """

    def __init__(self, settings: ServeSettings, backend: Backend | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.ready = False
        self.store: EventStore | None = None
        self.cache = UserCache(settings.user_cache, settings.context_mb)
        self.events = 0  # accepted since start

    @property
    def stats(self) -> dict[str, int]:
        """Events accepted, cache hits and misses since start (the ``/metrics`` counters)."""
        return {
            "events": self.events,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
        }

    @property
    def context_budget(self) -> ContextBudget:
        """What the cached users' retriever contexts hold (bytes) and may hold."""
        return self.cache.budget

    # ---- start-up ------------------------------------------------------------------------------
    def start(self) -> Service:
        import torch

        from prismrec.training import load_model

        s = self.settings
        torch.set_num_threads(s.threads)
        # many request threads each calling a multi-threaded BLAS thrash two cores (at 16
        # connections: 6x the latency); one thread per request is the fast setting
        from threadpoolctl import threadpool_limits

        self._thread_limits = threadpool_limits(s.threads)
        if s.model_dir is None:
            raise ConfigError(
                "no model directory: set model_dir (--model, PRISMREC_MODEL_DIR or [serve])"
            )
        path = Path(s.model_dir)
        self.model_dir = path  # settings.model_dir is optional until the service starts
        model = as_sequence_model(_load_weights_only(path, load_model))
        self.model = model
        # interests per user: K long-term, plus the short-term one when the model has it
        self.n_interests = model.n_interests
        self.encoder = InterestEncoder(model, s.quantize)
        schema = json.loads((path / "schema.json").read_text())
        fields = schema.get("item_fields", {})
        self.catalog = LiveCatalog(load_items(path), fields)
        self.featurizer = Featurizer.from_model_dir(path, list(model.feature_sizes), schema)
        # the model's external ids, read as the Python API and the CLI read them
        self.ids = IdMaps.from_dir(path)
        self.users = self.ids.users
        self.prior = PopularityPrior(
            model.user_histories, model.user_attr_arrays, self.catalog.n_rows
        )
        self.item_encoder = ItemEncoder(model, fields) if model.tower_kwargs else None
        if self.item_encoder is not None:
            self.item_encoder.text_encoder()  # load the text model now, not on the first PUT
        settings = IndexSettings(
            exact_below=s.exact_below, ef_search=s.ef_search, quantize=s.index_quantize
        )
        table = self.encoder.item_vectors()
        self.index, self.index_source = item_index(table, s.index, settings, path)
        # the one scoring path: candidates are scored and merged as ``recommend``/``evaluate``
        # score them (co-occurrence priors, repeat bias, quotas when the model uses them)
        live = self.index.ids()
        self.priors = ScorePriors.from_scorer(model.scorer, live, table[live])
        self.retriever = Retriever(
            self.index,
            self.catalog.metadata,
            candidates_per_interest=s.candidates_per_interest,
            priors=self.priors,
            score_all_below=s.exact_below,
        )
        self.store = open_store(self.backend or s.store, tombstone_secret=s.tombstone_secret)
        self.items = LiveItems(
            self.catalog,
            self.index,
            self.encoder,
            self.item_encoder,
            self.priors,
            self.prior,
            self.retriever,
            self.store,
            s.item_sync_s,
        )
        self.cold = ColdLists(
            self.prior,
            self.items,
            self.featurizer,
            model.user_attr_arrays,
            profile_vocab(path, list(model.user_attr_arrays)),
            s.cold_diversity,
        )
        self.items.sync(force=True)
        self.ready = True
        log.info(
            "serving %s: %d items, %s index (%s)",
            path,
            len(self.catalog),
            type(self.index).__name__,
            self.index_source,
        )
        return self

    def close(self) -> None:
        self.ready = False
        if self.store is not None:
            self.store.close()

    # ---- items (:class:`LiveItems`) -----------------------------------------------------------
    def sync_items(self, force: bool = False) -> None:
        """Apply item changes other replicas logged since the last sync."""
        self.items.sync(force)

    def put_item(self, item_id: str, fields: Any) -> dict[str, Any]:
        """Add or replace an item from its catalogue fields; searchable when this returns."""
        return self.items.put(item_id, fields)

    def delete_item(self, item_id: str) -> dict[str, Any]:
        """Take an item out of every list from now on."""
        return self.items.delete(item_id)

    def item_rows(self, item_ids: Sequence[str]) -> list[int]:
        """Rows of live items (for allow-lists); unknown ids are left out."""
        return self.items.rows(item_ids)

    def similar(self, item_id: str, k: int) -> dict[str, Any]:
        """The ``k`` items nearest ``item_id``."""
        return self.items.similar(item_id, k)

    # ---- events and users ------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> dict[str, Any]:
        """Store events durably (the call returns after the commit).

        Raises:
            DataError: an event type the model does not know (the message lists those it does).
        """
        assert self.store is not None
        known = self.featurizer.events
        for n, e in enumerate(events):
            if e.event_type not in known:
                raise DataError(
                    f"body.events.{n}.event_type: {e.event_type!r:.80} is not an event type "
                    f"this model knows; use one of {self.event_types}"
                )
        last = self.store.append(events)
        self.events += len(events)
        unknown = sum(1 for e in events if not self.catalog.index(e.item_id))
        return {"accepted": len(events), "unknown_items": unknown, "last_seq": last}

    @property
    def event_types(self) -> list[str]:
        """The event types the model was trained with (the only ones ingest accepts)."""
        return sorted(str(t) for t in self.featurizer.events.ids)

    def delete_user(self, user_id: str) -> dict[str, Any]:
        """Erase the user's events, cached state and in-memory entries.

        Raises:
            UnknownIdError: neither the store nor the model's training data has the user (or
                the user was deleted already); nothing is written.
        """
        assert self.store is not None
        check_id("user_id", user_id)
        known = self.ids.user_row(user_id) >= 0 and not self.store.is_deleted(user_id)
        if not known and self.store.version(user_id) == 0:
            raise UnknownIdError(f"unknown user {user_id!r} (no events, or deleted already)")
        n = self.store.delete_user(user_id, known=known)
        self.cache.drop(user_id)
        erasure = "pending" if self.store.erasure_pending() else "complete"
        return {"user_id": user_id, "deleted_events": n, "erasure": erasure}

    def erasure_status(self) -> dict[str, Any]:
        """``{"status": "complete"|"pending", "pending": N}`` over every deletion so far."""
        assert self.store is not None
        n = self.store.erasure_pending()
        return {"status": "pending" if n else "complete", "pending": n}

    def state(self, user_id: str) -> UserState:
        """The user's history and interests, from cache while no event arrived since."""
        check_id("user_id", user_id)
        assert self.store is not None
        version = self.store.version(user_id)
        hit = self.cache.get(user_id)
        trained = self.ids.user_row(user_id)
        # a user known only from training has version 0 before and after a deletion
        if (
            hit is not None
            and hit.version == version
            and (version or trained < 0 or not self.store.is_deleted(user_id))
        ):
            self.cache.hits += 1
            return hit
        self.cache.misses += 1
        snap = self.store.snapshot(user_id, self.encoder.history_len)
        deleted = trained >= 0 and self.store.is_deleted(user_id)
        base = None if trained < 0 or deleted else self.model.user_histories.get(trained)
        live = self.featurizer.features(snap.events, self._live_row)
        # the whole history, as offline: the encoder reads its last ``history_len`` events, but
        # the seen-item filter and the repeat bias see every event (as ``recommend`` does)
        n_events = len(live["item_idx"]) + (0 if base is None else len(base["item_idx"]))
        hist = concat(base, live, max(n_events, 1))
        interests = (
            self.encoder.encode(hist, -1 if deleted else trained) if len(hist["item_idx"]) else None
        )
        st = UserState(
            snap.version,
            hist["item_idx"],
            interests,
            -1 if deleted else trained,
            self.cache.context(),
        )
        self.cache.put(user_id, st)
        return st

    def cached_users(self) -> list[str]:
        """Users whose state is cached, least recently served first."""
        return self.cache.users()

    def _live_row(self, item_id: str) -> int:
        row = self.catalog.index(item_id)
        return row if 0 < row < len(self.encoder.table) else 0

    # ---- recommendations -------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        request: Request,
        context: dict[str, str] | None = None,
        profile: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.items.sync()
        self.cold.check_profile(profile or {})
        st = self.state(user_id)
        if st.interests is None:
            return self.cold.recommend(user_id, st.user_row, request, context or {}, profile or {})
        mute = request.mute
        muted = {mute} if isinstance(mute, int) else set(mute or ())
        muted_all = len(muted) >= len(st.interests.weights)
        if muted_all or request.allow_list == []:  # nothing may be recommended
            return {"user_id": user_id, "source": "personalised", "items": []}
        with self.items.lock.read():
            picked = self.retriever.recommend(st.interests, st.history, request, context=st.context)
        items = []
        rows = np.fromiter((p["item"] for p in picked), np.int64, len(picked))
        fresh = self.retriever.priors.fresh_items(rows)
        for p, new in zip(picked, fresh, strict=True):
            out: dict[str, Any] = {
                "item_id": self.catalog.external([p["item"]])[0],
                "score": round(p["score"], 6),
                "interest": p["interest"],
                "new": bool(new),
            }
            if request.explain and p["explanation"] is not None:
                out["explanation"] = self._external_explanation(p["explanation"])
            items.append(out)
        return {"user_id": user_id, "source": "personalised", "items": items}

    def _external_explanation(self, note: dict[str, Any]) -> dict[str, Any]:
        events = [
            {**e, "item_id": self.catalog.external([e["item"]])[0]} for e in note.get("events", [])
        ]
        for e in events:
            e.pop("item", None)
        return {**note, "events": events}

    @property
    def profile_keys(self) -> list[str]:
        """The user attributes the model knows (the keys ``profile=`` may name)."""
        return self.cold.profile_keys

    def interests(self, user_id: str, top_items: int = 5) -> dict[str, Any]:
        st = self.state(user_id)
        if st.interests is None:
            raise UnknownIdError(f"unknown user {user_id!r} (no events)")
        vecs = np.asarray(st.interests.vectors, np.float32)
        meta = self.catalog.metadata
        r = self.retriever
        with self.items.lock.read():  # one search serves the labels and the top items
            found, _ = self.index.search(vecs, max(r.label_items, top_items))
        labels = (
            label_interests(
                list(found), meta.categories, meta.category_names, r.label_top, meta.category_rates
            )
            if meta.categories is not None
            else [{"label": None, "categories": []}] * len(vecs)
        )
        ids = found[:, :top_items]
        return {
            "user_id": user_id,
            "n_events": int(len(st.history)),
            "interests": [
                {
                    "weight": round(float(w), 4),
                    "term": st.interests.term(i),
                    # dynamic K: an interest this user does not have (weight 0) has no content
                    "active": bool(held(w)),
                    "label": lab["label"] if held(w) else None,
                    "categories": lab["categories"] if held(w) else [],
                    "top_items": [
                        {"item_id": i} for i in self.catalog.external(row[(row >= 0) & held(w)])
                    ],
                }
                for i, (w, lab, row) in enumerate(
                    zip(st.interests.weights, labels, ids, strict=True)
                )
            ],
        }

    @functools.cached_property
    def model_info(self) -> ModelInfo:
        """The served model's version (read once from its manifest)."""
        return model_info(self.model_dir)


def _load_weights_only(path: Path, load: Callable[[Path], Recommender]) -> Recommender:
    """``load(path)``; a file that would run code when unpickled is a ``ConfigError``."""
    import pickle

    try:
        return load(path)
    except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused a global
        why = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ""
        raise ConfigError(
            f"{path}: a model file holds more than weights and was not loaded ({why}); "
            "serve only model directories written by 'prismrec train'"
        ) from None
