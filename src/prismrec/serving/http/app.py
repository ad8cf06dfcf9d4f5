"""The FastAPI application: ``create_app(settings)``; the lifespan loads model and index once.

Run it with ``prismrec serve --model DIR`` (or any ASGI server on ``create_app(settings)``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from prismrec import __version__
from prismrec.errors import ConfigError, ConflictError, DataError, UnknownIdError
from prismrec.serving.access.auth import KeyStore
from prismrec.serving.access.privacy import install_filter
from prismrec.serving.access.ratelimit import (
    FailedAuthLimiter,
    Limiter,
    RateLimiter,
    RedisRateLimiter,
)
from prismrec.serving.engine.service import Service
from prismrec.serving.http.appstate import AppState
from prismrec.serving.http.openapi import install_openapi
from prismrec.serving.http.routes import events, items, ops, users
from prismrec.serving.http.routes_admin import admin
from prismrec.serving.http.routes_browse import item_views, model, user_views
from prismrec.serving.http.webui import install_ui, offline_fastapi
from prismrec.serving.lifecycle.hotswap import ServiceHolder, with_watch
from prismrec.serving.metrics import Metrics, MetricsMiddleware
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state import Backend

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _limiter(keys: Backend, rate: float, burst: float, prefix: str) -> Limiter | None:
    if rate <= 0:
        return None
    if keys.is_redis:  # replicas share the buckets
        return RedisRateLimiter(keys, rate, burst, prefix=prefix)
    return RateLimiter(rate, burst)


def _auth_failures(settings: ServeSettings, keys: Backend) -> FailedAuthLimiter | None:
    lim = _limiter(keys, settings.auth_fail_per_s, settings.auth_fail_burst, "prismrec:authfail:")
    return None if lim is None else FailedAuthLimiter(lim)


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def create_app(settings: ServeSettings, service: Service | None = None) -> FastAPI:
    """The app; ``service`` (already started) skips loading in the lifespan (tests)."""
    settings = with_watch(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_filter(settings.log_secret or secrets.token_hex(16))
        svc = service or Service(settings, store).start()
        holder = ServiceHolder(settings, svc, _candidate(settings, store), metrics, backend=store)

        def swapped(_: Service) -> None:
            # event types, item fields and interests are the model's: the document is built again
            app.openapi_schema = None

        holder.listeners.append(swapped)
        state.holder = holder.follow()
        log.info("ready: %d items", len(svc.catalog))
        try:
            yield
        finally:
            state.keys.close()
            holder.close(keep=service)
            for backend in {id(b): b for b in (store, keys)}.values():
                backend.close()

    app = offline_fastapi(
        title="prismrec",
        version=__version__,
        description="Multi-interest, content-aware, event-fresh recommendations.",
        lifespan=lifespan,
    )
    metrics = Metrics()
    # one backend per store URL: events, keys, limits, the A/B log and the fleet record share
    # its connections (nothing connects before the lifespan starts)
    store = Backend(settings.store)
    keys = store if settings.keys_url == settings.store else Backend(settings.keys_url)
    state = AppState(
        settings=settings,
        metrics=metrics,
        keys=KeyStore(keys),
        limiter=_limiter(keys, settings.rate_per_s, settings.rate_burst, "prismrec:rl:"),
        auth_failures=_auth_failures(settings, keys),
    ).install(app)  # holder: None until the lifespan has loaded the model
    for router in (events, users, user_views, items, item_views, model, admin, ops):
        app.include_router(router)
    install_ui(app)
    app.add_middleware(
        MetricsMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    # outermost: the client address every layer (limits, logs, access log) sees is the
    # X-Forwarded-For one only when the peer is a trusted proxy
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    install_openapi(app)
    _handlers(app)
    return app


def _candidate(settings: ServeSettings, store: Backend) -> Service | None:
    """The A/B candidate's service, started, when ``candidate_dir`` is set."""
    if settings.candidate_dir is None:
        return None
    return Service(settings.model_copy(update={"model_dir": settings.candidate_dir}), store).start()


def _handlers(app: FastAPI) -> None:
    """Every error answer is ``{"detail": ...}``; a 422 adds ``errors`` (``ValidationProblem``)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_part(e) for e in exc.errors()]
        return _unprocessable(errors or [{"where": "request", "problem": "invalid"}])

    @app.exception_handler(DataError)
    async def bad_data(_: Request, exc: DataError) -> JSONResponse:
        where, sep, problem = str(exc).partition(": ")
        if not sep or " " in where:  # no "body.events.0.x: ..." prefix: the whole request
            where, problem = "request", str(exc)
        return _unprocessable([{"where": where, "problem": problem}])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Allow: every method of the path, not only one route's
            methods = sorted(
                m
                for r in app.router.routes
                if isinstance(r, APIRoute) and r.matches(request.scope)[0] != Match.NONE
                for m in r.methods or ()
            )
            headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
            exc = StarletteHTTPException(405, exc.detail, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConfigError)
    async def config(_: Request, exc: ConfigError) -> JSONResponse:
        log.error("configuration problem: %s", exc)
        return JSONResponse(
            {"detail": "service misconfigured; see the server log"}, status_code=503
        )


def _part(e: Any) -> dict[str, str]:
    loc = tuple(e.get("loc", ()))
    if e.get("type") == "json_invalid":  # FastAPI's loc ends in a character offset, ours not
        where = "body"
        ctx = e.get("ctx") or {}
        problem = f"malformed JSON: {ctx.get('error') or e.get('msg', '')}"
    else:
        where, problem = _where(loc), e.get("msg", "")
    return {"where": where, "problem": problem}


def _unprocessable(errors: list[dict[str, str]]) -> JSONResponse:
    first = errors[0]
    detail = f"{first['where']}: {first['problem']}"
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)
