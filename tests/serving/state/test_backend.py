"""One backend per store URL: every stateful feature shares its connections."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from prismrec.errors import ConfigError
from prismrec.serving.access import KeyStore, RedisRateLimiter
from prismrec.serving.lifecycle import open_ablog, open_fleet
from prismrec.serving.state import Backend, Event, open_store


def _use_every_feature(source: str | Backend) -> list[object]:
    """Write through the events, keys, A/B log and fleet record of one store."""
    store = open_store(source)
    store.append([Event("u1", "i1", "view", 1)])
    keys = KeyStore(source)
    keys.create("read")
    ablog = open_ablog(source)
    ablog.served("u1", "control", ["i1", "i2"])
    fleet = open_fleet(source)
    fleet.publish({"path": "/models/a"})
    return [store, keys, ablog, fleet]


def _close(parts: list[object]) -> None:
    for part in parts:
        part.close()  # type: ignore[attr-defined]


def test_sqlite_features_share_one_connection_and_outlive_their_closing(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'state.db'}"
    backend = Backend(url)
    parts = _use_every_feature(backend)
    db = backend.sqlite("")
    assert db.n_connections == 1  # one thread, four features: one connection
    _close(parts)  # borrowed: closing a feature leaves the backend open
    assert open_store(backend).version("u1") > 0
    backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.sqlite("")
    # everything reached the one file: a new backend reads it all back
    again = Backend(url)
    assert open_store(again).version("u1") > 0
    assert len(KeyStore(again).list_keys()) == 1
    assert open_ablog(again).counts()["control"].lists == 1
    assert open_fleet(again).get()[1] == {"path": "/models/a"}
    again.close()


def _clients(admin: redis.Redis) -> int:
    return len(admin.client_list()) - 1  # not counting the admin connection itself


def test_redis_features_share_one_pool(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.flushdb()
    before = _clients(admin)
    backend = Backend(redis_url)
    parts = _use_every_feature(backend)
    limiter = RedisRateLimiter(backend, 10, 10)
    assert limiter.allow("k")[0]
    assert _clients(admin) - before == 1  # one pool, used from one thread: one connection
    _close([*parts, limiter])
    assert _clients(admin) - before == 1  # borrowed: still open
    backend.close()
    assert _clients(admin) - before == 0
    # each feature opened from the URL brings its own connection: what the backend saves
    own = _use_every_feature(redis_url)
    assert _clients(admin) - before == 4
    _close(own)
    assert _clients(admin) - before == 0
    admin.close()


def test_a_backend_refuses_the_other_kind_and_bad_urls(tmp_path: Path, redis_url: str) -> None:
    with pytest.raises(ConfigError, match="SQLite file, not Redis"):
        Backend(f"sqlite:{tmp_path / 'x.db'}").redis()
    with pytest.raises(ConfigError, match="Redis, not a SQLite file"):
        Backend(redis_url).sqlite("")
    with pytest.raises(ConfigError, match="unsupported store URL"):
        Backend("mysql://db/x")
