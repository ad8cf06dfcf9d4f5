"""The application's state: one typed object on the app, read through :func:`app_state`.

``create_app`` builds it (settings, metrics, key store, rate limiters); the lifespan sets
``holder`` once the model is loaded. Until then ``holder`` is ``None`` and the routes that need
a model answer 503 "the service is starting".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from fastapi import FastAPI, Request

from prismrec.serving.access.auth import KeyStore
from prismrec.serving.access.ratelimit import FailedAuthLimiter, Limiter
from prismrec.serving.engine.browse import Browse
from prismrec.serving.engine.service import Service
from prismrec.serving.lifecycle.hotswap import ServiceHolder
from prismrec.serving.metrics import Metrics
from prismrec.serving.settings import ServeSettings

__all__ = ["AppState", "app_state"]


@dataclass
class AppState:
    """What every request of one app shares.

    Attributes:
        settings: the service settings.
        metrics: the Prometheus metrics (``/metrics``).
        keys: the API keys.
        limiter: the per-key rate limit (``None``: unlimited).
        auth_failures: the limit on failed authentications (``None``: unlimited).
        holder: the services answering requests; ``None`` while the model loads.
        browse: the read-only views of each service (made on first use, gone with it).
    """

    settings: ServeSettings
    metrics: Metrics
    keys: KeyStore
    limiter: Limiter | None = None
    auth_failures: FailedAuthLimiter | None = None
    holder: ServiceHolder | None = None
    browse: WeakKeyDictionary[Service, Browse] = field(default_factory=WeakKeyDictionary)

    @property
    def service(self) -> Service | None:
        """The model in service now, once it is loaded and started (else ``None``)."""
        if self.holder is None:
            return None
        service = self.holder.service
        return service if service.ready else None

    def install(self, app: FastAPI) -> AppState:
        """Store this state on ``app`` (where :func:`app_state` finds it)."""
        app.state.prismrec = self
        return self


def app_state(app_or_request: FastAPI | Request) -> AppState:
    """The state of the app (or of the app a request came to) that ``create_app`` built."""
    app = app_or_request.app if isinstance(app_or_request, Request) else app_or_request
    state = app.state.prismrec
    if not isinstance(state, AppState):  # an app not made by create_app
        raise TypeError(f"not a prismrec app: its state holds {type(state).__name__}")
    return state
