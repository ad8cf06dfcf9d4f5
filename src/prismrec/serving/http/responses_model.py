"""Response bodies of the model and operator routes: the model in service, swaps, the live
snapshot (:mod:`~prismrec.serving.http.responses` holds the rest and the conventions)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from prismrec.serving.http.responses import Number, absent

__all__ = ["Live", "ModelRecord", "ModelStatus", "SwapStarted", "Swapped"]


# ---- the model --------------------------------------------------------------------------------
class Report(BaseModel):
    """The served model's evaluation report."""

    model: str | None
    protocol: str
    n_users: int | None
    headline: list[str]
    metrics: dict[str, Number]
    ci: dict[str, Any]
    definitions: dict[str, Any]
    figures: list[str] = Field(description="names for GET /v1/model/report/{name}")
    has_html: bool


class ModelRecord(BaseModel):
    """The served model: configuration, training history and evaluation report."""

    name: str | None
    prismrec_version: str | None
    n_items: int
    n_trained_users: int
    n_interests: int
    event_types: list[str]
    display_fields: list[str]
    title_field: str | None
    category_field: str | None
    model: dict[str, Any]
    train: dict[str, Any]
    history: list[dict[str, Any]] = Field(description="per epoch: loss and validation metrics")
    report: Report | None


class Slot(BaseModel):
    """A model directory and its version."""

    path: str
    version: str


class Candidate(Slot):
    """The A/B candidate model."""

    share: float = Field(description="share of users it answers")


class Loading(BaseModel):
    """A model load in progress."""

    path: str
    since: float = Field(description="unix seconds")


class ModelStatus(BaseModel):
    """The model in service and what happened to it."""

    version: str
    path: str
    created_at: float = Field(description="unix seconds")
    parent: str | None
    previous: Slot | None
    loading: Loading | None
    last_error: str | None
    swaps: int
    failed_loads: int
    watch: str | None
    candidate: Candidate | None


class Swapped(BaseModel):
    """The model now in service after a swap or a rollback."""

    action: Literal["swap", "rollback", "follow"]
    version: str
    path: str
    replicas: str | SkipJsonSchema[None] = absent(
        "told, or why the other replicas were not (with a shared store)"
    )
    previous: Slot


class SwapStarted(BaseModel):
    """A swap started in the background."""

    loading: str


# ---- the live snapshot ------------------------------------------------------------------------
class Traffic(BaseModel):
    """Requests answered within the window: rate, latency and errors."""

    requests: int
    per_s: float
    p50_ms: float | None = Field(description="median latency, ms (none: no request)")
    p99_ms: float | None = Field(description="99th percentile latency, ms (nearest rank)")
    status_4xx: int
    status_5xx: int
    status_429: int = Field(description="rate limited (also in status_4xx)")
    ratio_4xx: float
    ratio_5xx: float


class RouteTraffic(Traffic):
    """One route's requests."""

    route: str = Field(description='"METHOD /route/{template}", or "METHOD unmatched"')


class EventRate(BaseModel):
    """Events stored within the window (by this replica)."""

    ingested: int
    per_s: float


class CacheState(BaseModel):
    """The user cache of the model in service."""

    users: int
    max_users: int
    context_bytes: int = Field(description="what the cached users' reusable work holds")
    context_limit_bytes: int
    hits: int = Field(description="since the model started")
    misses: int


class VariantLive(BaseModel):
    """One A/B variant since the test started (every replica): lists, hits, 95% interval."""

    variant: Literal["control", "candidate"]
    version: str
    lists: int
    hits: int
    hit_rate: float | None = Field(description="none: no list yet")
    ci_low: float | None
    ci_high: float | None
    items_served: int


class ABLive(BaseModel):
    """The A/B test: each variant, and the candidate's hit rate minus the control's."""

    share: float = Field(description="share of users the candidate answers")
    variants: list[VariantLive]
    diff: float | None
    diff_low: float | None
    diff_high: float | None


class Live(BaseModel):
    """What this replica did over the last ``window_s`` seconds, and what it serves now."""

    status: Literal["starting", "loading", "ready"] = Field(
        description="starting: no model yet; loading: a swap is loading another model"
    )
    at: float = Field(description="unix seconds")
    window_s: float = Field(
        description="the seconds the rates are over: 60, less just after the start"
    )
    total: Traffic
    routes: list[RouteTraffic]
    events: EventRate
    cache: CacheState | None
    model: ModelStatus | None
    ab: ABLive | None = Field(description="none: no A/B test")
