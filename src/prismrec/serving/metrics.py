"""Prometheus metrics and the ASGI middleware that records them (plus body size and time limits).

Label values come from fixed sets, so no request can add series: the method is one of
``METHODS`` (anything else is ``other``) and the route is a route template of the app or
``unmatched``. The same call that observes a request for Prometheus keeps it in
:class:`Recent` (bounded), which the live page's snapshot reads: rates, percentiles and
errors over the last minute, in process.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METHODS", "WINDOW_S", "Metrics", "MetricsMiddleware", "Recent"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WINDOW_S = 60.0
_KEEP = 50_000  # requests (and event batches) kept at most: a few MB


class Recent:
    """The last requests and event batches, for the live snapshot: bounded memory.

    Each request is ``(time, "METHOD /route/template", status, seconds)``. At most ``keep`` are
    kept: beyond ``keep / WINDOW_S`` requests/s the snapshot's window is shorter than a minute
    (and says so).

    Args:
        keep: requests (and event batches) kept at most.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, keep: int = _KEEP, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self._requests: deque[tuple[float, str, int, float]] = deque(maxlen=keep)
        self._events: deque[tuple[float, int]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def request(self, route: str, status: int, seconds: float) -> None:
        """One request answered."""
        with self._lock:
            self._requests.append((self.clock(), route, status, seconds))

    def events(self, n: int) -> None:
        """``n`` events stored."""
        with self._lock:
            self._events.append((self.clock(), n))

    def snapshot(self, window_s: float = WINDOW_S) -> dict[str, Any]:
        """Requests by route (rates, p50/p99 in ms, 4xx, 5xx, 429) and events over the last
        ``window_s`` seconds, or since the start, or since the oldest request kept."""
        now = self.clock()
        with self._lock:
            full = len(self._requests) == self._requests.maxlen
            requests, events = list(self._requests), list(self._events)
        since = max(now - window_s, self.started)
        if full and requests[0][0] > since:  # more traffic than kept: the window is shorter
            since = requests[0][0]
        span = max(now - since, 1.0)
        by_route: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for t, route, status, seconds in requests:
            if t >= since:
                by_route[route].append((status, seconds))
        routes = [_route_stats(span, rows, route) for route, rows in sorted(by_route.items())]
        ingested = sum(n for t, n in events if t >= since)
        return {
            "window_s": round(span, 3),
            "total": _route_stats(span, [r for rows in by_route.values() for r in rows]),
            "routes": routes,
            "events": {"ingested": ingested, "per_s": ingested / span},
        }


def _route_stats(span: float, rows: list[tuple[int, float]], route: str = "") -> dict[str, Any]:
    durations = sorted(s for _, s in rows)
    n = len(rows)
    c4 = sum(1 for status, _ in rows if 400 <= status < 500)
    c5 = sum(1 for status, _ in rows if status >= 500)
    out = {"route": route} if route else {}
    return out | {
        "requests": n,
        "per_s": n / span,
        "p50_ms": _quantile(durations, 0.5),
        "p99_ms": _quantile(durations, 0.99),
        "status_4xx": c4,
        "status_5xx": c5,
        "status_429": sum(1 for status, _ in rows if status == 429),
        "ratio_4xx": c4 / n if n else 0.0,
        "ratio_5xx": c5 / n if n else 0.0,
    }


def _quantile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile of ``ordered`` seconds, in ms (``None``: no values)."""
    if not ordered:
        return None
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


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
        self.context_bytes = Gauge(
            "prismrec_user_context_bytes", "bytes of cached users' reusable work", registry=r
        )
        self.erasure_pending = Gauge(
            "prismrec_erasure_pending",
            "user deletions whose data the store has not yet purged from disk",
            registry=r,
        )
        self.model_info = Gauge(
            "prismrec_model_info", "the served model's version (value 1)", ["version"], registry=r
        )
        self.model_swaps = Counter(
            "prismrec_model_swaps", "models swapped in (admin, rollback, fleet, link)", registry=r
        )
        self.model_load_failures = Counter(
            "prismrec_model_load_failures",
            "model swaps refused: the directory could not be loaded or did not answer",
            registry=r,
        )
        self.ab_lists = Gauge(
            "prismrec_ab_lists",
            "A/B: lists served by variant (every replica)",
            ["variant"],
            registry=r,
        )
        self.ab_hits = Gauge(
            "prismrec_ab_hits",
            "A/B: served lists a later event of the user landed on, by variant",
            ["variant"],
            registry=r,
        )
        self.ab_hit_rate = Gauge(
            "prismrec_ab_hit_rate", "A/B: hits / lists by variant", ["variant"], registry=r
        )
        self.ab_items = Gauge(
            "prismrec_ab_items_served",
            "A/B: distinct items served by variant",
            ["variant"],
            registry=r,
        )
        self.ab_coverage = Gauge(
            "prismrec_ab_coverage",
            "A/B: distinct items served / live catalogue items, by variant",
            ["variant"],
            registry=r,
        )
        self.ab_latency = Histogram(
            "prismrec_ab_seconds",
            "A/B: time to compute a list, by variant (this replica)",
            ["variant"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.ab_model_info = Gauge(
            "prismrec_ab_model_info",
            "A/B: each variant's model version (value 1)",
            ["variant", "version"],
            registry=r,
        )
        self.model_age = Gauge(
            "prismrec_model_age_seconds", "seconds since the served model was saved", registry=r
        )
        self.store_up = Gauge(
            "prismrec_store_up",
            "1 when the event store (SQLite or Redis) answered the last scrape, else 0",
            registry=r,
        )
        self.recent = Recent()

    def ingested(self, n: int) -> None:
        """``n`` events stored: counted for ``/metrics`` and the live snapshot."""
        self.events.inc(n)
        self.recent.events(n)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status in (408, 413):  # the rest of the body is not read: the connection cannot go on
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Times every request by route template, counts statuses, enforces ``max_body_bytes`` and
    ``body_timeout_s`` (the whole body must arrive within it: 408, else a slow client could
    hold a connection and a worker thread forever)."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, body_timeout_s: float = 30.0
    ) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes
        self.body_timeout_s = body_timeout_s

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
        seen = {"bytes": 0, "done": False}
        deadline = time.monotonic() + self.body_timeout_s

        async def limited() -> Message:
            if seen["done"]:  # the body is in: later reads wait for a disconnect, untimed
                return await receive()
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise _TimedOut from None
            if msg["type"] == "http.request":
                seen["done"] = not msg.get("more_body", False)
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
        except _TimedOut:
            await _reply(send, 408, f"request body not received within {self.body_timeout_s} s")
            status["code"] = 408
        self._record(scope, status["code"], t0)

    def _record(self, scope: Scope, code: int, t0: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        method = method if method in METHODS else "other"
        m = self.metrics
        seconds = time.perf_counter() - t0
        m.latency.labels(method, name).observe(seconds)
        m.requests.labels(method, name, str(code)).inc()
        if code >= 500:
            m.errors.labels(method, name).inc()
        m.recent.request(f"{method} {name}", code, seconds)


class _TooLarge(BaseException):  # noqa: N818 (not an Exception: FastAPI would turn it into a 400)
    pass


class _TimedOut(BaseException):  # noqa: N818 (as _TooLarge)
    pass
