"""Admin routes: the model in service (which one, swap to another, roll back) and the live
snapshot the ``/ui`` operations page polls."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from prismrec.errors import ConflictError, PrismError
from prismrec.evaluation.report import json_safe
from prismrec.serving.http.appstate import AppState, app_state
from prismrec.serving.http.deps import HolderDep, require
from prismrec.serving.http.responses_model import Live, ModelStatus, Swapped, SwapStarted
from prismrec.serving.http.schemas import ModelIn, errors, model_body
from prismrec.serving.lifecycle.hotswap import ServiceHolder

__all__ = ["admin"]

log = logging.getLogger(__name__)
Admin = Depends(require("admin"))
ModelBody = Annotated[ModelIn, Depends(model_body)]

admin = APIRouter(prefix="/v1/admin", tags=["admin"])
# the body is parsed by a dependency (after the key check), so the document is told its shape
_MODEL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ModelIn.model_json_schema()}},
    }
}


@admin.get("/model", dependencies=[Admin], response_model=ModelStatus, responses=errors("admin"))
def model_status(holder: HolderDep) -> dict[str, Any]:
    """The model in service (version, directory), the previous one, whether a load is in
    progress, the last failed load, and the A/B candidate if there is one."""
    return holder.status()


@admin.post(
    "/model",
    dependencies=[Admin],
    response_model=Swapped,
    response_model_exclude_unset=True,
    responses={
        202: {"model": SwapStarted, "description": "loading in the background (wait: false)"},
        **errors("admin", body=True, conflict=True),
    },
    openapi_extra=_MODEL_BODY,
)
def swap_model(holder: HolderDep, body: ModelBody) -> dict[str, Any] | JSONResponse:
    """Serve the model directory ``path`` without a restart: it is loaded beside the running
    model and checked, then replaces it at once (requests in flight finish on the old one).
    Every replica on the same store follows. 422: not a servable model, nothing changed."""
    if not body.wait:
        holder.check_path(body.path)
        if holder.loading is not None:
            raise ConflictError(f"a model load is in progress ({holder.loading['path']})")
        threading.Thread(target=_swap_quietly, args=(holder, body.path), daemon=True).start()
        return JSONResponse({"loading": body.path}, status_code=202)
    return holder.swap(body.path)


def _swap_quietly(holder: ServiceHolder, path: str) -> None:
    try:
        holder.swap(path)
    except PrismError as exc:  # counted and shown by GET /v1/admin/model
        log.error("background swap to %s failed: %s", path, exc)


@admin.post(
    "/model/rollback",
    dependencies=[Admin],
    response_model=Swapped,
    response_model_exclude_unset=True,
    responses=errors("admin", conflict=True),
)
def rollback_model(holder: HolderDep) -> dict[str, Any]:
    """Serve the model that served before the last swap again (on every replica)."""
    return holder.rollback()


@admin.get("/live", dependencies=[Admin], response_model=Live, responses=errors("admin"))
def live(request: Request) -> dict[str, Any]:
    """This replica over the last minute: requests/s, p50 and p99 latency and errors per route,
    events/s; and now: cached users, the model in service (swaps, failed loads, a load in
    progress) and the A/B test's hit rates with their 95% intervals. Answers while the model
    loads too (``status``). The ``/ui`` operations page polls it."""
    return live_snapshot(app_state(request))


def live_snapshot(state: AppState) -> dict[str, Any]:
    """The answer of ``GET /v1/admin/live`` (rates from the metrics middleware's records)."""
    out = state.metrics.recent.snapshot()
    out |= {"status": "starting", "at": time.time(), "cache": None, "model": None, "ab": None}
    holder, service = state.holder, state.service
    if holder is None or service is None:
        return out
    status = holder.status()
    cache, budget = service.cache, service.context_budget
    out |= {
        "status": "loading" if status["loading"] else "ready",
        "model": status,
        "cache": {
            "users": len(cache),
            "max_users": cache.size,
            "context_bytes": budget.used,
            "context_limit_bytes": budget.limit,
            "hits": cache.hits,
            "misses": cache.misses,
        },
    }
    if holder.experiment is not None and status["candidate"] is not None:
        try:
            report = holder.experiment.summary()
        except Exception as exc:  # noqa: BLE001 (the store's trouble shows as no A/B here)
            log.warning("A/B counts unavailable: %s", exc)
            return out
        versions = {"control": status["version"], "candidate": status["candidate"]["version"]}
        out["ab"] = json_safe(  # NaN (a rate without lists) as null: JSON has no NaN
            {
                "share": status["candidate"]["share"],
                "variants": [
                    {**asdict(v), "version": versions[v.variant]} for v in report.variants
                ],
                "diff": report.diff,
                "diff_low": report.diff_low,
                "diff_high": report.diff_high,
            }
        )
    return out
