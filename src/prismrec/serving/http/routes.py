"""HTTP routes, one router per resource; CPU-bound handlers are plain ``def`` (thread pool)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from prismrec.errors import DataError
from prismrec.retrieval.pipeline import Request as RecRequest
from prismrec.serving.engine._display import attach_fields
from prismrec.serving.engine.service import Service
from prismrec.serving.http.appstate import app_state
from prismrec.serving.http.deps import HolderDep, ServiceDep, require
from prismrec.serving.http.responses import (
    PLAIN_TEXT,
    Erasure,
    EventsAck,
    Health,
    Interests,
    ItemDeleted,
    ItemPut,
    Noop,
    Ready,
    Recommendations,
    SimilarItems,
    UserDeleted,
)
from prismrec.serving.http.schemas import (
    EventsIn,
    Fields,
    ItemId,
    RecParams,
    UserId,
    errors,
    events_body,
    item_body,
)
from prismrec.serving.state.store import Event

__all__ = ["events", "items", "ops", "users"]

Read, Write, Admin = Depends(require("read")), Depends(require("write")), Depends(require("admin"))
EventsBody = Annotated[EventsIn, Depends(events_body)]
ItemBody = Annotated[dict[str, Any], Depends(item_body)]


def _pairs(values: list[str], name: str) -> dict[str, str]:
    """``key:value`` query values (repeated or comma-separated) -> a dict."""
    out = {}
    for part in (p for v in values for p in v.split(",")):
        key, sep, value = part.partition(":")
        if not sep or not key:
            raise DataError(
                f"{name} must be key:value pairs, e.g. {name}=device:mobile; got {part!r}"
            )
        out[key] = value
    return out


def _list(values: list[str]) -> list[str]:
    return [p for v in values for p in v.split(",") if p]


# ---- events -----------------------------------------------------------------------------
events = APIRouter(prefix="/v1", tags=["events"])


@events.post(
    "/events",
    dependencies=[Write],
    response_model=EventsAck,
    responses=errors("write", body=True),
)
def post_events(
    body: EventsBody, service: ServiceDep, holder: HolderDep, request: Request
) -> dict[str, Any]:
    """Store a batch of events; answers once they are durable."""
    limit = service.settings.max_events
    if len(body.events) > limit:
        raise DataError(f"at most {limit} events per request, got {len(body.events)}")
    out = service.ingest([Event(**e.model_dump()) for e in body.events])
    app_state(request).metrics.ingested(out["accepted"])
    if holder.experiment is not None:  # A/B: lists these events land on are hits
        holder.experiment.events((e.user_id, e.item_id) for e in body.events)
    return out


# ---- users ------------------------------------------------------------------------------
users = APIRouter(prefix="/v1/users", tags=["users"])


@users.get(
    "/{user_id}/recommendations",
    dependencies=[Read],
    # documents the answer; _json writes it without FastAPI's check (test_responses holds
    # the service's lists to the model)
    response_model=Recommendations,
    responses=errors("read", params=True),
)
def recommendations(
    user_id: UserId,
    service: ServiceDep,
    holder: HolderDep,
    q: Annotated[RecParams, Query()],
    request: Request,
) -> Response:
    """The user's top-k; new users get popular items for their context and profile.

    Each item carries its ``score``, the ``interest`` it came from and ``new``: true for an
    item with no event in the model's training data (put since, or never interacted with),
    shown for its content; ``[model] fresh_share`` keeps a share of each list for such items.
    ``variant`` names the model that answered: ``candidate`` for the users an A/B test routes
    to the candidate model, else ``control``."""
    t0 = time.perf_counter()
    if q.k > service.settings.max_k:
        raise DataError(f"k must be at most {service.settings.max_k}, got {q.k}")
    shown = service.catalog.display.resolve(q.fields)
    known = set(service.catalog.metadata.category_names or ())
    mute = sorted(set(q.mute))
    req = RecRequest(
        k=q.k,
        diversity=q.diversity,
        method=q.method,
        # excluding a category no item has, or allowing an id no item has, is a no-op
        exclude_categories=[c for c in _list(q.exclude_categories) if c in known],
        allow_list=service.item_rows(_list(q.allow)) if q.allow else None,
        max_per_category=q.max_per_category,
        focus=[i for i in q.focus if i not in mute] or None,  # muting wins over focusing
        mute=mute or None,
        explain=q.explain,
        filter_seen=q.filter_seen,
        fresh_share=q.fresh_share,
    )
    try:
        out = service.recommend(
            user_id, req, _pairs(q.context, "context"), _pairs(q.profile, "profile")
        )
    except ValueError as exc:  # bad focus/mute index or category name
        raise DataError(str(exc)) from None
    variant = request.state.variant
    out["model_version"] = service.model_info.version
    out["variant"] = variant
    if holder.experiment is not None:
        served = [i["item_id"] for i in out["items"]]
        holder.experiment.served(user_id, variant, served, time.perf_counter() - t0)
    return _json(with_fields(out, service, shown))


def with_fields(out: dict[str, Any], service: Service, names: list[str]) -> dict[str, Any]:
    """``out`` with the display fields ``names`` on every item it names."""
    catalog = service.catalog
    return attach_fields(out, catalog.display, catalog.index, names)


def _json(obj: dict[str, Any]) -> Response:
    """Plain ``json.dumps`` of a JSON-ready dict (skips FastAPI's generic encoder)."""
    return Response(json.dumps(obj, ensure_ascii=False), media_type="application/json")


@users.get(
    "/{user_id}/interests",
    dependencies=[Read],
    response_model=Interests,
    response_model_exclude_unset=True,
    responses=errors("read", params=True, not_found=True),
)
def interests(user_id: UserId, service: ServiceDep, fields: Fields = None) -> dict[str, Any]:
    """The user's K interests: weight, label (top categories) and nearest items."""
    shown = service.catalog.display.resolve(fields)
    return with_fields(service.interests(user_id), service, shown)


@users.delete(
    "/{user_id}",
    dependencies=[Admin],
    response_model=UserDeleted,
    responses={
        202: {
            "model": UserDeleted,
            "description": "deleted; purging the data from disk is pending",
        },
        **errors("admin", params=True, not_found=True),
    },
)
def delete_user(user_id: UserId, service: ServiceDep, holder: HolderDep) -> JSONResponse:
    """Erase the user's events, state and cache entries on every replica's shared store.

    200 when the erasure is complete; 202 when the store could not yet purge the data from disk
    (a reader holds an old snapshot): it finishes in the background (``GET /v1/erasure``).
    """
    out = service.delete_user(user_id)
    holder.ab_log.forget(user_id)  # the lists an A/B test served them
    return JSONResponse(out, status_code=200 if out["erasure"] == "complete" else 202)


# ---- items ------------------------------------------------------------------------------
items = APIRouter(prefix="/v1/items", tags=["items"])


@items.get(
    "/{item_id}/similar",
    dependencies=[Read],
    response_model=SimilarItems,
    response_model_exclude_unset=True,
    responses=errors("read", params=True, not_found=True),
)
def similar(
    item_id: ItemId,
    service: ServiceDep,
    k: Annotated[int, Query(ge=1)] = 10,
    fields: Fields = None,
) -> dict[str, Any]:
    """Nearest items in the model's item space (content and behaviour, for a content model)."""
    if k > service.settings.max_k:
        raise DataError(f"k must be at most {service.settings.max_k}, got {k}")
    shown = service.catalog.display.resolve(fields)
    return with_fields(service.similar(item_id, k), service, shown)


@items.put(
    "/{item_id}",
    dependencies=[Write],
    response_model=ItemPut,
    responses=errors("write", params=True, body=True),
)
def put_item(
    item_id: ItemId,
    service: ServiceDep,
    fields: ItemBody,
) -> dict[str, Any]:
    """Add or replace an item from its catalogue fields; recommendable when this returns."""
    return service.put_item(item_id, fields)


@items.delete(
    "/{item_id}",
    dependencies=[Write],
    response_model=ItemDeleted,
    responses=errors("write", params=True, not_found=True),
)
def delete_item(item_id: ItemId, service: ServiceDep) -> dict[str, Any]:
    """Remove an item from recommendations."""
    return service.delete_item(item_id)


# ---- operations -------------------------------------------------------------------------
ops = APIRouter(tags=["operations"])


@ops.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@ops.get("/readyz", response_model=Ready, responses={503: errors()[503]})
def readyz(request: Request) -> dict[str, Any]:
    """The model is loaded and the store answers."""
    service = app_state(request).service
    if service is None:
        raise HTTPException(503, "loading")
    try:
        assert service.store is not None
        service.store.ping()
    except Exception as exc:  # noqa: BLE001 (any store failure means not ready)
        raise HTTPException(503, f"store unavailable: {type(exc).__name__}") from None
    return {"status": "ready", "items": len(service.catalog)}


@ops.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": PLAIN_TEXT, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    state = app_state(request)
    m = state.metrics
    service = state.service
    if service is not None:
        m.index_size.set(len(service.index))
        m.cache_hits.set(service.stats["cache_hits"])
        m.cache_misses.set(service.stats["cache_misses"])
        m.context_bytes.set(service.context_budget.used)
        m.erasure_pending.set(service.erasure_status()["pending"])
        info = service.model_info
        m.model_info.clear()  # one series: the version serving now
        m.model_info.labels(version=info.version).set(1)
        m.model_age.set(max(0.0, time.time() - info.created_at))
        try:
            assert service.store is not None
            service.store.ping()
            m.store_up.set(1)
        except Exception:  # noqa: BLE001 (any store failure means down)
            m.store_up.set(0)
        if state.holder is not None:
            state.holder.export_ab()
    return PlainTextResponse(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@ops.get("/v1/erasure", dependencies=[Admin], response_model=Erasure, responses=errors("admin"))
def erasure(service: ServiceDep) -> dict[str, Any]:
    """Whether every deletion is purged from disk, or how many are still pending."""
    return service.erasure_status()


@ops.get("/v1/noop", dependencies=[Read], response_model=Noop, responses=errors("read"))
def noop() -> dict[str, bool]:
    """Does nothing behind the same auth and middleware: the HTTP floor for benchmarks."""
    return {"ok": True}
