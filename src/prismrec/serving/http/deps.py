"""Request dependencies: the service, the caller's key and role, the rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from prismrec.serving.access.auth import Principal, Role, key_id_of
from prismrec.serving.engine.browse import Browse
from prismrec.serving.engine.service import Service
from prismrec.serving.http.appstate import app_state
from prismrec.serving.lifecycle.hotswap import ServiceHolder

__all__ = [
    "BrowseDep",
    "HolderDep",
    "ServiceDep",
    "get_browse",
    "get_holder",
    "get_service",
    "require",
]

_bearer = HTTPBearer(auto_error=False, description="an API key from 'prismrec keys create'")
_ANONYMOUS = Principal("anonymous", Role.admin)


def get_holder(request: Request) -> ServiceHolder:
    """The app's services (503 until they have finished loading)."""
    holder = app_state(request).holder
    if holder is None:
        raise HTTPException(503, "the service is starting; retry shortly")
    return holder


HolderDep = Annotated[ServiceHolder, Depends(get_holder)]


async def get_service(request: Request) -> AsyncIterator[Service]:
    """The service this request answers with (503 until loaded): the user's A/B variant for a
    ``/v1/users/{user_id}`` route, else the model in service. The request keeps it to the end,
    even when a swap replaces it meanwhile (``request.state.variant`` names it)."""
    holder = get_holder(request)
    user_id = request.path_params.get("user_id")
    variant = holder.variant_of(user_id) if isinstance(user_id, str) else "control"
    service = holder.acquire(variant)
    try:
        if not service.ready:
            raise HTTPException(503, "the service is starting; retry shortly")
        request.state.variant = variant
        yield service
    finally:
        holder.release(service)


ServiceDep = Annotated[Service, Depends(get_service)]


def get_browse(request: Request, service: ServiceDep) -> Browse:
    """The read-only views over the request's service (made on first use, one per model)."""
    state = app_state(request)
    views = state.browse
    browse = views.get(service)
    if browse is None:
        browse = views[service] = Browse(service, state.settings.report_dir)
    return browse


BrowseDep = Annotated[Browse, Depends(get_browse)]


def require(role: str) -> Callable[..., Principal]:
    """A dependency that checks the bearer key, its role and its rate limit."""
    needed = Role.parse(role)

    def check(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        state = app_state(request)
        if not state.settings.auth:
            return _ANONYMOUS
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "missing API key: send 'Authorization: Bearer KEY' (create one with "
                "'prismrec keys create --role read')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        who = _authenticate(request, creds.credentials)
        if not who.can(needed):
            raise HTTPException(
                403, f"this key has role {who.role.value!r}; this request needs {needed.value!r}"
            )
        limiter = state.limiter
        if limiter is not None:
            ok, retry = limiter.allow(who.key_id)
            if not ok:
                raise _too_many(f"rate limit exceeded for key {who.key_id}", retry)
        request.state.key_id = who.key_id
        return who

    return check


def _authenticate(request: Request, key: str) -> Principal:
    """The key's principal; 401 for a wrong key, 429 once failures from the client's address
    or for the key id are over their limit.

    The key is checked first, always: a valid key passes whatever others sent from its address
    (behind a proxy or a NAT many clients share one), and only failures are throttled.
    """
    state = app_state(request)
    who = state.keys.verify(key)
    if who is not None:
        return who
    fails = state.auth_failures
    address = request.client.host if request.client else "unknown"
    wait = fails.failed(address, key_id_of(key)) if fails is not None else 0.0
    if wait:
        raise _too_many("too many failed authentications", wait)
    raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})


def _too_many(what: str, retry: float) -> HTTPException:
    return HTTPException(
        429,
        f"{what}; retry in {retry:.2f} s",
        headers={"Retry-After": str(max(1, round(retry + 0.5)))},
    )
