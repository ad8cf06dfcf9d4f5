"""Hot swap: the services an app answers with, and switching the model without a restart.

:class:`ServiceHolder` holds the model in service (``control``) and, in an A/B test, the
``candidate``. A swap builds a new :class:`~prismrec.serving.engine.service.Service` beside the
running one (requests keep being answered), checks it with a request, then replaces the reference
under a lock: a request takes its service once (:meth:`ServiceHolder.acquire`) and finishes on it,
and the replaced service is closed once its last request has released it. A new service starts with
empty caches: nothing a model derived for a user (interests) carries over; the stored events do,
and the new model recomputes from them.

Replicas sharing a store follow each other (:class:`~prismrec.serving.lifecycle.follow.
FleetFollower`, started by :meth:`ServiceHolder.follow`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prismrec.errors import ConflictError, DataError
from prismrec.retrieval.pipeline import Request
from prismrec.serving.engine.service import Service
from prismrec.serving.lifecycle._ablog import open_ablog
from prismrec.serving.lifecycle._fleet import open_fleet
from prismrec.serving.lifecycle.ab import Experiment, assign
from prismrec.serving.lifecycle.follow import FleetFollower
from prismrec.serving.metrics import Metrics
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state import Backend
from prismrec.training.manifest import current_model

__all__ = ["ServiceHolder", "Slot", "with_watch"]

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 120.0
_CHECK_USER = "prismrec-swap-check"


@dataclass(frozen=True)
class Slot:
    """A model that served (or serves): its directory and version."""

    path: str
    version: str

    @classmethod
    def of(cls, service: Service) -> Slot:
        # a link (models/current) is resolved: rolling back must reach this very directory
        return cls(str(Path(service.model_dir).resolve()), service.model_info.version)


class ServiceHolder:
    """The app's services; swaps ``control`` atomically and rolls it back.

    Args:
        settings: the service settings (each new model gets them with its own ``model_dir``).
        control: the started service of the model in service.
        candidate: the started service of the A/B candidate, if any.
        metrics: where swaps and failed loads are counted.
        loader: builds and starts a service for a model directory (tests replace it).
        backend: the storage opened from ``settings.store`` that the A/B log, the fleet record
            and the services the default loader starts share; default: each opens its own.
    """

    def __init__(
        self,
        settings: ServeSettings,
        control: Service,
        candidate: Service | None = None,
        metrics: Metrics | None = None,
        loader: Callable[[ServeSettings, Path], Service] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self._control = control
        self.candidate = candidate
        self.metrics = metrics
        self.loader = loader or functools.partial(_load, backend=backend)
        self._lock = threading.Condition()  # guards _control and _inflight
        self._inflight: dict[int, int] = {}
        self._load_lock = threading.Lock()  # one load at a time
        self._retired: list[Service] = []
        self.previous: Slot | None = None
        self.loading: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.swaps = 0
        self.failed_loads = 0
        self.listeners: list[Callable[[Service], None]] = []
        self.follower: FleetFollower | None = None
        # served lists are forgotten with their user even when no test runs now
        self.ab_log = open_ablog(backend or settings.store, keep=settings.ab_lists)
        self.experiment = None if candidate is None else Experiment(self.ab_log, metrics)

    # ---- requests ------------------------------------------------------------------------------
    @property
    def service(self) -> Service:
        """The model in service now."""
        return self._control

    def variant_of(self, user_id: str) -> str:
        """``candidate`` or ``control``: a stable hash of the user id (see ``ab.assign``)."""
        if self.candidate is None:
            return "control"
        return assign(user_id, self.settings.ab_salt, self.settings.candidate_share)

    def acquire(self, variant: str = "control") -> Service:
        """The service a request answers with; :meth:`release` it when the request is done."""
        with self._lock:
            svc = self.candidate if variant == "candidate" and self.candidate else self._control
            self._inflight[id(svc)] = self._inflight.get(id(svc), 0) + 1
        return svc

    def release(self, svc: Service) -> None:
        with self._lock:
            n = self._inflight.get(id(svc), 0) - 1
            if n > 0:
                self._inflight[id(svc)] = n
            else:
                self._inflight.pop(id(svc), None)
                self._lock.notify_all()

    # ---- swapping ------------------------------------------------------------------------------
    def swap(self, path: str | Path, *, publish: bool = True, action: str = "swap") -> dict:
        """Load the model at ``path``, check it, and serve it from now on.

        Raises:
            DataError: ``path`` is not a model directory, or the model fails to load or answer
                (the message says why); the served model is unchanged.
            ConflictError: another load is in progress.
        """
        target = self.check_path(path)
        if not self._load_lock.acquire(blocking=False):
            busy = self.loading or {}
            raise ConflictError(
                f"a model load is in progress ({busy.get('path')}); retry once "
                "GET /v1/admin/model shows none"
            )
        try:
            old = Slot.of(self._control)
            self.loading = {"path": str(target), "since": time.time()}
            try:
                new = self.loader(self.settings, target)
            except Exception as exc:  # noqa: BLE001 (any failure leaves the old model serving)
                why = f"{type(exc).__name__}: {str(exc)[:300]}"
                self._failed(f"{target}: {why}")
                raise DataError(f"body.path: {target} could not be served: {why}") from None
            self._install(new)
            self.previous = old
            self.swaps += 1
            if self.metrics is not None:
                self.metrics.model_swaps.inc()
            self.last_error = None
            slot = Slot.of(new)
            log.info(
                "%s: now serving %s (%s), was %s", action, slot.version, slot.path, old.version
            )
            out = {"action": action, "version": slot.version, "path": slot.path}
            if publish and self.follower is not None:
                out["replicas"] = self.follower.publish(slot.path, slot.version, action)
            return {**out, "previous": old.__dict__}
        finally:
            self.loading = None
            self._load_lock.release()

    def check_path(self, path: str | Path) -> Path:
        """``path`` when it is a model directory.

        Raises:
            DataError: it is not (missing, or no ``model.json``); counted as a failed load.
        """
        try:
            target = Path(path).resolve()
            found = (target / "model.json").is_file()
            why = "no model.json in it" if target.exists() else "no such directory"
        except (OSError, ValueError) as exc:  # too long, a NUL byte ...
            self._failed(f"{str(path)[:200]!r}: {exc}")
            raise DataError(f"body.path: {str(path)[:80]!r} is not a usable path: {exc}") from None
        if not found:
            self._failed(f"{target}: not a model directory ({why})")
            raise DataError(f"body.path: {target} is not a model directory ({why})")
        return target

    def rollback(self) -> dict:
        """Serve the model served before the last swap again.

        Raises:
            ConflictError: there was no swap yet, or a load is in progress.
            DataError: the previous model's directory cannot be served any more.
        """
        if self.previous is None:
            raise ConflictError("no previous model to roll back to: this service has not swapped")
        return self.swap(self.previous.path, action="rollback")

    def _failed(self, why: str) -> None:
        self.failed_loads += 1
        self.last_error = why
        if self.metrics is not None:
            self.metrics.model_load_failures.inc()
        log.error("model load failed: %s", why)

    def _install(self, new: Service) -> None:
        with self._lock:
            old, self._control = self._control, new
            self._retired.append(old)
        for listener in self.listeners:
            listener(new)
        threading.Thread(
            target=self._drain, args=(old,), name="prismrec-drain", daemon=True
        ).start()

    def _drain(self, old: Service) -> None:
        """Close ``old`` once no request holds it (or after ``DRAIN_TIMEOUT_S``)."""
        with self._lock:
            drained = self._lock.wait_for(lambda: id(old) not in self._inflight, DRAIN_TIMEOUT_S)
            if old not in self._retired:
                return  # closed by close() meanwhile
            self._retired.remove(old)
        if not drained:
            log.warning("closing the replaced model with requests still on it")
        old.close()

    def status(self) -> dict[str, Any]:
        """Which model serves, the previous one, and whether a load is in progress."""
        svc = self._control
        info = svc.model_info
        cand = self.candidate
        return {
            "version": info.version,
            "path": str(svc.model_dir),
            "created_at": info.created_at,
            "parent": info.parent,
            "previous": None if self.previous is None else self.previous.__dict__,
            "loading": self.loading,
            "last_error": self.last_error,
            "swaps": self.swaps,
            "failed_loads": self.failed_loads,
            "watch": None if self.settings.watch is None else str(self.settings.watch),
            "candidate": None
            if cand is None
            else {**Slot.of(cand).__dict__, "share": self.settings.candidate_share},
        }

    def export_ab(self) -> None:
        """Set the A/B gauges of ``metrics`` (no-op without a candidate)."""
        if self.experiment is None or self.candidate is None or self.metrics is None:
            return
        services = {"control": self._control, "candidate": self.candidate}
        self.experiment.export({v: len(svc.catalog) for v, svc in services.items()})
        info = self.metrics.ab_model_info
        info.clear()
        for variant, svc in services.items():
            info.labels(variant, svc.model_info.version).set(1)

    # ---- following the fleet and the current link --------------------------------------------
    def follow(self) -> ServiceHolder:
        """Poll the fleet record (and the watched link) every ``model_sync_s`` in a thread."""
        every = self.settings.model_sync_s
        if every > 0:
            self.follower = FleetFollower(
                open_fleet(self.backend or self.settings.store),
                lambda: self._control.model_info.version,
                lambda path, publish: self.swap(path, publish=publish, action="follow"),
                every,
                self.settings.watch,
            ).start()
        return self

    def close(self, keep: Service | None = None) -> None:
        """Stop following; close every service but ``keep`` (one its caller owns)."""
        if self.follower is not None:
            self.follower.close()
        self.ab_log.close()
        with self._lock:
            retired, self._retired = self._retired, []
        for svc in [*retired, self._control, self.candidate]:
            if svc is not None and svc is not keep:
                svc.close()


def with_watch(settings: ServeSettings) -> ServeSettings:
    """``settings`` with ``model_dir`` set to where ``watch``'s ``current`` link points, when
    only ``watch`` is given."""
    if settings.model_dir is not None or settings.watch is None:
        return settings
    return settings.model_copy(update={"model_dir": current_model(settings.watch)})


def _load(settings: ServeSettings, path: Path, backend: Backend | None = None) -> Service:
    """A started service on ``path`` that has answered one request."""
    svc = Service(settings.model_copy(update={"model_dir": path}), backend)
    try:
        svc.start()
        svc.recommend(_CHECK_USER, Request(k=1))  # a new user: the popularity path, no writes
    except BaseException:
        svc.close()
        raise
    return svc
