"""Prometheus metrics and the ASGI middleware that records them (plus the body-size limit)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """One registry per app (several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "prismrec_request_seconds",
            "request latency by route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "prismrec_requests",
            "requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.errors = Counter(
            "prismrec_errors",
            "responses with status >= 500 by route",
            ["method", "route"],
            registry=r,
        )
        self.events = Counter("prismrec_events_ingested", "events stored", registry=r)
        self.index_size = Gauge("prismrec_index_items", "items in the index", registry=r)
        self.cache_hits = Gauge("prismrec_user_cache_hits", "interest cache hits", registry=r)
        self.cache_misses = Gauge(
            "prismrec_user_cache_misses", "interest recomputations", registry=r
        )


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Times every request by route template, counts statuses, enforces ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = f"request body over {self.max_body} bytes"
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _reply(send, 413, too_big)
            self._record(scope, 413, t0)
            return
        seen = {"bytes": 0}

        async def limited() -> Message:
            msg = await receive()
            if msg["type"] == "http.request":
                seen["bytes"] += len(msg.get("body", b""))
                if seen["bytes"] > self.max_body:
                    raise _TooLarge
            return msg

        async def sending(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, limited, sending)
        except _TooLarge:
            await _reply(send, 413, too_big)
            status["code"] = 413
        self._record(scope, status["code"], t0)

    def _record(self, scope: Scope, code: int, t0: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        m = self.metrics
        m.latency.labels(method, name).observe(time.perf_counter() - t0)
        m.requests.labels(method, name, str(code)).inc()
        if code >= 500:
            m.errors.labels(method, name).inc()


class _TooLarge(BaseException):  # noqa: N818 (not an Exception: FastAPI would turn it into a 400)
    pass
