"""Running the app under uvicorn with read timeouts and a connection limit.

uvicorn (h11) waits for a request's headers as long as the client keeps its connection open, so
a client sending half a header held a connection forever. :func:`timed_protocol` gives every
connection ``header_timeout_s`` to deliver complete headers (from its first byte, or from its
opening) and ``body_timeout_s`` more for the body; the app itself answers a late body with 408
(``MetricsMiddleware``), the protocol closes whatever the app does not read. Connections beyond
``max_connections`` get 503 at once.

Memory: glibc gives each thread that contends for the allocator an arena of its own (up to 8 per
core), and the request threads' arenas fragment: in ``benchmarks/soak.py`` RSS grew ~3 MB a
minute for ten minutes (+6.3%) with no Python object accumulating. With two arenas from the
process start it stayed flat (+0.3% over three minutes) at the same latency, so ``prismrec
serve`` caps them before it loads the model (:func:`limit_malloc_arenas`) and :func:`run` again.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from prismrec.serving.settings import ServeSettings

__all__ = ["limit_malloc_arenas", "run", "timed_protocol"]

log = logging.getLogger(__name__)
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def timed_protocol(header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    """An h11 protocol class that closes connections whose headers or body are too slow."""

    class TimedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _phase: object = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            """One deadline per phase: headers (IDLE with bytes or at opening), then body."""
            state = self.conn.their_state
            if state is h11.IDLE and self.timeout_keep_alive_task is not None:
                phase = None  # between requests: uvicorn's keep-alive timeout applies
            elif state is h11.IDLE:
                phase = "headers"
            elif state is h11.SEND_BODY:
                phase = "body"
            else:
                phase = None
            if phase == self._phase:
                return
            self._disarm()
            self._phase = phase
            if phase is not None:
                # the app gets the first say on a slow body (408); this only closes what is left
                delay = header_timeout_s if phase == "headers" else body_timeout_s + 1.0
                self._deadline = self.loop.call_later(delay, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._phase = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol


def limit_malloc_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        ok = bool(libc is not None and libc.mallopt(_M_ARENA_MAX, n))
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        ok = False
    log.debug("malloc arenas capped at %d: %s", n, ok)
    return ok


def run(app: Any, settings: ServeSettings, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` on ``host:port`` until interrupted (uvicorn, one process)."""
    import uvicorn

    limit_malloc_arenas()  # a no-op when the caller capped them before loading the model

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=timed_protocol(settings.header_timeout_s, settings.body_timeout_s),
        limit_concurrency=settings.max_connections,
        proxy_headers=False,  # the app reads X-Forwarded-For from its own trusted_proxies
    )
