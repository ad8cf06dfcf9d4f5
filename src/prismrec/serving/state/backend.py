"""One storage backend per store URL, shared by every feature that keeps state in it.

The events, API keys, rate-limit buckets, the A/B log and the fleet's model all live in the
store the service is given (``sqlite:PATH`` or ``redis://HOST:PORT/DB``). A :class:`Backend` is
opened once from that URL and hands each feature what it stores through:

* SQLite: one :class:`~prismrec.serving.state.SQLiteDB` (per-thread connections to the one
  file); each feature adds its tables on first use.
* Redis: one client over one connection pool; each feature keeps its keys under its prefix.

A feature given a URL instead of a backend opens a backend of its own and closes it with itself
(:func:`borrow`), so the stores and key tools stay usable on their own.
"""

from __future__ import annotations

import threading

import redis

from prismrec.errors import ConfigError
from prismrec.serving.state._db import SQLiteDB
from prismrec.serving.state._events import redact

__all__ = ["Backend", "borrow", "parse_store_url", "redis_client"]

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


class Backend:
    """The storage behind one store URL, opened lazily and once.

    Args:
        url: ``sqlite:PATH`` or ``redis://HOST:PORT/DB`` (checked now; nothing connects yet).
        timeout_s: how long a SQLite writer waits for another writer's lock.

    Raises:
        ConfigError: a malformed URL.
    """

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.kind, self.target = parse_store_url(url)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._db: SQLiteDB | None = None
        self._client: redis.Redis | None = None
        self._closed = False

    @property
    def is_redis(self) -> bool:
        """True for a Redis store, False for a SQLite file."""
        return self.kind == "redis"

    def redis(self) -> redis.Redis:
        """The shared Redis client (one connection pool for every feature)."""
        if not self.is_redis:
            raise ConfigError(f"store {self.url!r} is a SQLite file, not Redis")
        with self._lock:
            self._check_open()
            if self._client is None:
                self._client = redis.Redis.from_url(self.target)
            return self._client

    def sqlite(self, schema: str) -> SQLiteDB:
        """The shared SQLite database, with ``schema``'s tables created on first use.

        Raises:
            ConfigError: the store is Redis.
        """
        if self.is_redis:
            raise ConfigError(f"store {redact(self.url)!r} is Redis, not a SQLite file")
        with self._lock:
            self._check_open()
            if self._db is None:
                self._db = SQLiteDB(self.target, timeout_s=self._timeout_s)
        self._db.add_schema(schema)
        return self._db

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"store {redact(self.url)!r} is closed")

    def close(self) -> None:
        """Close the connections; the backend cannot be used afterwards."""
        with self._lock:
            self._closed = True
            db, client, self._db, self._client = self._db, self._client, None, None
        if db is not None:
            db.close()
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"Backend({redact(self.url)!r})"


def borrow(source: str | Backend, *, timeout_s: float = 30.0) -> tuple[Backend, bool]:
    """The backend ``source`` names and whether the caller owns it (and must close it).

    A :class:`Backend` is borrowed (its opener closes it); a URL opens a backend of the
    caller's own.
    """
    if isinstance(source, Backend):
        return source, False
    return Backend(source, timeout_s=timeout_s), True


def redis_client(source: str | redis.Redis | Backend) -> tuple[redis.Redis, bool]:
    """A Redis client for ``source`` and whether the caller owns it (and must close it).

    A :class:`Backend` lends its shared client and a ready client is used as it is; a URL
    opens a client (and connection pool) of the caller's own.
    """
    if isinstance(source, Backend):
        return source.redis(), False
    if isinstance(source, redis.Redis):
        return source, False
    return redis.Redis.from_url(source), True
