"""Token-bucket rate limits per API key, in memory or shared through Redis.

Each key has a bucket of at most ``burst`` tokens that refills at ``rate_per_s``; a request
takes one token (or ``cost``). A refused request learns how many seconds until it would pass,
for a ``Retry-After`` header.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

from prismrec.errors import ConfigError
from prismrec.serving.state import Backend, redis_client

__all__ = ["FailedAuthLimiter", "Limiter", "RateLimiter", "RedisRateLimiter"]


class Limiter(Protocol):
    """Anything that decides whether a key may make one more request now."""

    def allow(self, key_id: str, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens; return (allowed, seconds to wait when refused, else 0)."""
        ...


def _check(rate_per_s: float, burst: float) -> None:
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ConfigError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
    if not (math.isfinite(burst) and burst >= 1):
        raise ConfigError(f"burst must be at least 1, got {burst!r}")


def _check_cost(cost: float, burst: float) -> None:
    if not 0 < cost <= burst:
        raise ValueError(f"cost must be in (0, burst={burst}], got {cost!r}")


class RateLimiter:
    """In-process token buckets; right for a single API process.

    Args:
        rate_per_s: tokens added per second.
        burst: bucket size, the most requests allowed at once.
        clock: seconds from a monotonic clock (tests pass a fake one).
        max_keys: buckets kept before full (idle) ones are forgotten.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        _check(rate_per_s, burst)
        self.rate_per_s, self.burst = float(rate_per_s), float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def tracked_keys(self) -> frozenset[str]:
        """The key ids whose buckets are kept in memory (the rest behave as full)."""
        with self._lock:
            return frozenset(self._buckets)

    def allow(self, key_id: str, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens from ``key_id``'s bucket; (allowed, retry_after_s)."""
        _check_cost(cost, self.burst)
        with self._lock:
            now = self._clock()
            tokens = self._level(key_id, now)
            if tokens >= cost:
                self._buckets[key_id] = (tokens - cost, now)
                ok, wait = True, 0.0
            else:
                self._buckets[key_id] = (tokens, now)
                ok, wait = False, (cost - tokens) / self.rate_per_s
            if len(self._buckets) > self._max_keys:
                self._forget_full(now)
        return ok, wait

    def _level(self, key_id: str, now: float) -> float:
        tokens, last = self._buckets.get(key_id, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - last) * self.rate_per_s)

    def _forget_full(self, now: float) -> None:
        # a full bucket behaves exactly like a missing one, so dropping it changes nothing
        full = [k for k in self._buckets if self._level(k, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        # still too many busy keys: forget the oldest (they get a fresh burst), leaving room so
        # this O(n) sweep stays rare
        excess = len(self._buckets) - int(self._max_keys * 0.9)
        for k in list(self._buckets)[: max(0, excess)]:
            del self._buckets[k]


# KEYS: the bucket hash. ARGV: rate, burst, cost, now ('' = the Redis server's clock).
_BUCKET_LUA = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[4])
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil or ts == nil then tokens, ts = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local ok, wait = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  ok = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {ok, string.format('%.17g', wait)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API replica that uses the same server.

    One atomic Lua script per request; time comes from the Redis server, so replicas' clocks
    need not agree. Buckets expire once they would be full again.

    Args:
        url: ``redis://HOST:PORT/DB``, a ready client, or the :class:`Backend` of the store
            (the buckets then share its connection pool).
        rate_per_s: tokens added per second.
        burst: bucket size.
        prefix: key namespace.
        clock: override the server clock with seconds from this function (tests).
    """

    def __init__(
        self,
        url: str | redis.Redis | Backend,
        rate_per_s: float,
        burst: float,
        *,
        prefix: str = "prismrec:rl:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check(rate_per_s, burst)
        self.rate_per_s, self.burst = float(rate_per_s), float(burst)
        self.r, self._own = redis_client(url)
        self.prefix = prefix
        self._clock = clock
        self._script = self.r.register_script(_BUCKET_LUA)

    def allow(self, key_id: str, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens from ``key_id``'s shared bucket; (allowed, retry_after_s)."""
        _check_cost(cost, self.burst)
        now = "" if self._clock is None else repr(float(self._clock()))
        args = [repr(self.rate_per_s), repr(self.burst), repr(float(cost)), now]
        ok, wait = self._script(keys=[f"{self.prefix}{key_id}"], args=args)
        return bool(ok), float(wait)

    def close(self) -> None:
        """Close the connection pool if this limiter created it."""
        if self._own:
            self.r.close()


class FailedAuthLimiter:
    """Failed authentications, limited per client address and per key id.

    Every failure takes a token from the address's bucket and, when the presented key names a
    key id, from that id's bucket; a failure past either limit is answered 429 instead of 401.
    Only failures are counted and refused: a request with a valid key is never asked here, so
    neither wrong keys from its address (many clients share one behind a proxy or a NAT) nor
    wrong secrets for its (public) key id lock its owner out.

    Args:
        limiter: the buckets (in memory or Redis, shared by replicas).
    """

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def failed(self, address: str, key_id: str | None) -> float:
        """Record one failure; seconds to wait when it went over a limit (0: answer 401)."""
        ok, wait = self.limiter.allow(f"addr:{address}")
        if key_id is not None:
            key_ok, key_wait = self.limiter.allow(f"key:{key_id}")
            if not key_ok:
                return max(0.0 if ok else wait, key_wait)
        return 0.0 if ok else wait
