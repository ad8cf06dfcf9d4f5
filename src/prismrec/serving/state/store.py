"""Online user state: a durable event log per user, each user with a version.

Two backends share the :class:`EventStore` interface:

* :class:`SQLiteStore` (embedded default): WAL journal, ``synchronous=FULL``, so ``append``
  returns only after the commit is fsynced.
* :class:`RedisStore` (scale-out, several API replicas): durability is the Redis server's
  ``appendonly``/``appendfsync`` setting; only ``appendonly yes`` + ``appendfsync always``
  acknowledges an event after it reached the disk.

Every event gets a global, increasing sequence number. A user's ``version`` is the sequence number
of their latest event, so it grows with every append and is never reused, not even after
``delete_user``: the service's per-user caches are valid while the version is unchanged.
"""

from __future__ import annotations

from prismrec.serving.state._events import (
    Event,
    EventStore,
    ItemChange,
    Snapshot,
    StoredEvent,
    check_id,
    user_tombstone,
)
from prismrec.serving.state._redis import RedisStore
from prismrec.serving.state._sqlite import SQLiteStore
from prismrec.serving.state.backend import Backend, parse_store_url

__all__ = [
    "Event",
    "EventStore",
    "ItemChange",
    "RedisStore",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "check_id",
    "open_store",
    "parse_store_url",
    "user_tombstone",
]


def open_store(
    source: str | Backend, *, prefix: str = "prismrec:", tombstone_secret: str | None = None
) -> EventStore:
    """The event store at ``sqlite:PATH`` or ``redis://HOST:PORT/DB``, checked to be reachable.

    Args:
        source: the store URL, or the :class:`Backend` opened from it (the store then shares
            its connections and leaves closing them to the backend's owner).
        prefix: Redis key namespace.
        tombstone_secret: key of deleted users' tombstones (see the stores for the default).

    Raises:
        ConfigError: bad URL, unwritable file, or unreachable Redis.
    """
    # a URL: the store opens (and closes) its own file or client; a backend: it borrows
    kind, target = (source.kind, source) if isinstance(source, Backend) else parse_store_url(source)
    store: EventStore = (
        RedisStore(target, prefix=prefix, tombstone_secret=tombstone_secret)
        if kind == "redis"
        else SQLiteStore(target, tombstone_secret=tombstone_secret)
    )
    store.ping()
    return store
