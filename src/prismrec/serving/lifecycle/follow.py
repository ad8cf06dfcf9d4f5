"""Following the fleet: replicas sharing a store serve the same model.

A replica that swaps writes the model's path to the fleet record (``_fleet``); every other one
polls the record every ``model_sync_s`` and loads the same directory. With ``watch``, a replica
also follows a models folder's ``current`` link (what ``prismrec retrain`` promotes through).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prismrec.errors import ConflictError, DataError
from prismrec.serving.engine.versions import model_info
from prismrec.serving.lifecycle._fleet import FleetModel
from prismrec.training.manifest import current_model

__all__ = ["FleetFollower"]

log = logging.getLogger(__name__)


class FleetFollower:
    """Polls the fleet record (and a watched ``current`` link) in a thread and swaps to what
    they name; publishes this replica's own swaps.

    Args:
        fleet: the fleet record in the store.
        serving: the version in service now.
        swap: ``swap(path, publish)`` swaps this replica (raises ``ConflictError`` while another
            load runs, ``DataError`` when the model cannot be served).
        every_s: seconds between polls.
        watch: a models folder whose ``current`` link to follow, if any.
    """

    def __init__(
        self,
        fleet: FleetModel,
        serving: Callable[[], str],
        swap: Callable[[Path | str, bool], object],
        every_s: float,
        watch: Path | None = None,
    ) -> None:
        self.fleet = fleet
        self._serving = serving
        self._swap = swap
        self.every_s = every_s
        self.watch = watch
        self.replica = f"{id(self):x}-{time.time_ns():x}"
        self._seen_seq = fleet.get()[0]  # swaps from before this start are not replayed
        self._watched = current_model(watch) if watch is not None else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="prismrec-follow", daemon=True)

    def start(self) -> FleetFollower:
        """Start polling."""
        self._thread.start()
        return self

    def publish(self, path: str, version: str, action: str) -> str:
        """Tell the other replicas; the swap here stands even when the store is unreachable."""
        record = {"path": path, "version": version, "origin": self.replica}
        try:
            self._seen_seq = self.fleet.publish({**record, "action": action})
        except Exception as exc:  # noqa: BLE001 (Redis or SQLite down: this replica swapped)
            log.error("swapped here, but could not tell the other replicas: %s", exc)
            return f"not told: {type(exc).__name__}: {str(exc)[:200]}"
        return "told"

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 (a store that is down for a while: try again)
                log.exception("checking for a new model failed")

    def poll(self) -> None:
        """One check: a newer fleet record, then a moved ``current`` link."""
        seq, record = self.fleet.get()
        mine = record.get("origin") == self.replica
        if seq > self._seen_seq and (mine or self._follow(record["path"], False)):
            self._seen_seq = seq
        if self.watch is not None:
            target = current_model(self.watch)
            if target is not None and target != self._watched and self._follow(target, True):
                self._watched = target

    def _follow(self, path: str | Path, publish: bool) -> bool:
        """Swap to ``path`` unless it is the version in service; False: try again later."""
        try:
            if model_info(path).version == self._serving():
                return True
        except (OSError, ValueError):
            pass  # the swap reports it
        try:
            self._swap(path, publish)
        except ConflictError:
            return False
        except DataError as exc:
            log.error("not following the fleet to %s: %s", path, exc)
        return True

    def close(self) -> None:
        """Stop polling and close the fleet record."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.fleet.close()
