"""The fleet's model: which model directory every replica on one store should serve.

A swap sent to one replica is written here (a sequence number and a small JSON record, in the
same SQLite file or Redis as the events); every replica polls it and follows a newer one.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import redis

from prismrec.serving.state import Backend, borrow

__all__ = ["FleetModel", "open_fleet"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_model (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, record TEXT NOT NULL
);
"""


class FleetModel(Protocol):
    """Read and publish the fleet's model record."""

    def get(self) -> tuple[int, dict[str, Any]]:
        """``(seq, record)``; ``(0, {})`` before any swap."""
        ...

    def publish(self, record: dict[str, Any]) -> int:
        """Store ``record`` under the next sequence number; return it."""
        ...

    def close(self) -> None: ...


class _SQLiteFleet:
    def __init__(self, backend: Backend, own: bool) -> None:
        self.db, self._backend, self._own = backend.sqlite(_SCHEMA), backend, own

    def get(self) -> tuple[int, dict[str, Any]]:
        row = self.db.conn().execute("SELECT seq, record FROM fleet_model").fetchone()
        return (int(row[0]), json.loads(row[1])) if row else (0, {})

    def publish(self, record: dict[str, Any]) -> int:
        with self.db.write() as conn:
            row = conn.execute("SELECT seq FROM fleet_model").fetchone()
            seq = (int(row[0]) if row else 0) + 1
            conn.execute(
                "INSERT INTO fleet_model VALUES (1, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET seq = excluded.seq, record = excluded.record",
                (seq, json.dumps(record)),
            )
        return seq

    def close(self) -> None:
        if self._own:
            self._backend.close()


class _RedisFleet:
    def __init__(self, backend: Backend, own: bool, prefix: str) -> None:
        self.r: redis.Redis = backend.redis()
        self._backend, self._own = backend, own
        self.key = f"{prefix}fleet-model"

    def get(self) -> tuple[int, dict[str, Any]]:
        seq, raw = self.r.hmget(self.key, ["seq", "record"])
        return (int(seq), json.loads(raw)) if seq and raw else (0, {})

    def publish(self, record: dict[str, Any]) -> int:
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(self.key, "seq", 1)
        pipe.hset(self.key, "record", json.dumps(record))
        return int(pipe.execute()[0])

    def close(self) -> None:
        if self._own:
            self._backend.close()


def open_fleet(source: str | Backend, prefix: str = "prismrec:") -> FleetModel:
    """The fleet record in the store at ``source`` (``sqlite:PATH``, ``redis://...`` or the
    :class:`Backend` opened from either)."""
    backend, own = borrow(source)
    return _RedisFleet(backend, own, prefix) if backend.is_redis else _SQLiteFleet(backend, own)
