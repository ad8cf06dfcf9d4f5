"""Online user state: a durable event log per user plus a versioned per-user state cache.

Two backends share the :class:`EventStore` interface:

* :class:`SQLiteStore` (embedded default): WAL journal, ``synchronous=FULL``, so ``append``
  returns only after the commit is fsynced.
* :class:`RedisStore` (scale-out, several API replicas): durability is the Redis server's
  ``appendonly``/``appendfsync`` setting; only ``appendonly yes`` + ``appendfsync always``
  acknowledges an event after it reached the disk.

Every event gets a global, increasing sequence number. A user's ``version`` is the sequence number
of their latest event, so it grows with every append and is never reused, not even after
``delete_user``. Cached state is stored together with the version it was computed at and is
returned only while that is still the user's version: a new event invalidates it.
"""

from __future__ import annotations

from prismrec.errors import ConfigError
from prismrec.serving.state._events import (
    Event,
    EventStore,
    ItemChange,
    Snapshot,
    StoredEvent,
    check_id,
    redact,
    user_tombstone,
)
from prismrec.serving.state._redis import RedisStore
from prismrec.serving.state._sqlite import SQLiteDB, SQLiteStore

__all__ = [
    "Event",
    "EventStore",
    "ItemChange",
    "RedisStore",
    "SQLiteDB",
    "SQLiteStore",
    "Snapshot",
    "StoredEvent",
    "check_id",
    "open_store",
    "parse_store_url",
    "user_tombstone",
]

_URL_HELP = "use sqlite:PATH (e.g. sqlite:prismrec-state.db) or redis://HOST:PORT/DB"


def parse_store_url(url: str) -> tuple[str, str]:
    """Split a store URL into ``("sqlite", path)`` or ``("redis", url)``.

    Raises:
        ConfigError: the URL is empty, has an unknown scheme or a malformed Redis part.
    """
    from urllib.parse import urlsplit

    from redis.connection import parse_url

    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"empty store URL; {_URL_HELP}")
    if url.startswith("sqlite:"):
        path = url[len("sqlite:") :].removeprefix("//")
        if not path:
            raise ConfigError(f"store URL {url!r} has no file path; {_URL_HELP}")
        return "sqlite", path
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            parse_url(url)
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError on a non-numeric port
        except ValueError as exc:
            raise ConfigError(f"bad Redis URL {redact(url)!r}: {exc}; {_URL_HELP}") from None
        if url.startswith("redis") and not parts.hostname:
            raise ConfigError(f"Redis URL {redact(url)!r} has no host; {_URL_HELP}")
        db = parts.path.strip("/")
        if url.startswith("redis") and db and not db.isdigit():
            raise ConfigError(f"Redis URL {redact(url)!r}: database {db!r} is not a number")
        return "redis", url
    hint = f" (did you mean 'sqlite:{url}'?)" if "://" not in url else ""
    raise ConfigError(f"unsupported store URL {redact(url)!r}{hint}; {_URL_HELP}")


def open_store(
    url: str, *, prefix: str = "prismrec:", tombstone_secret: str | None = None
) -> EventStore:
    """Open ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` and check that it is reachable.

    Args:
        url: the store URL.
        prefix: Redis key namespace.
        tombstone_secret: key of deleted users' tombstones (see the stores for the default).

    Raises:
        ConfigError: bad URL, unwritable file, or unreachable Redis.
    """
    kind, target = parse_store_url(url)
    secret = tombstone_secret
    store: EventStore = (
        SQLiteStore(target, tombstone_secret=secret)
        if kind == "sqlite"
        else RedisStore(target, prefix=prefix, tombstone_secret=secret)
    )
    store.ping()
    return store
