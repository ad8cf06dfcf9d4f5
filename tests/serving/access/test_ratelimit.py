"""Token buckets, in memory and in Redis, driven by a fake clock (no sleeping, no timing)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import redis

from prismrec.errors import ConfigError
from prismrec.serving.access.ratelimit import (
    FailedAuthLimiter,
    Limiter,
    RateLimiter,
    RedisRateLimiter,
)


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


MakeLimiter = Callable[[float, float, FakeClock], Limiter]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[MakeLimiter]:
    made: list[RedisRateLimiter] = []
    if request.param == "memory":
        yield lambda rate, burst, clock: RateLimiter(rate, burst, clock=clock)
        return
    url = request.getfixturevalue("redis_url")

    def make_redis(rate: float, burst: float, clock: FakeClock) -> Limiter:
        made.append(RedisRateLimiter(url, rate, burst, clock=clock))
        return made[-1]

    yield make_redis
    for lim in made:
        lim.close()


def test_burst_then_refill_at_the_rate(make: MakeLimiter) -> None:
    clock = FakeClock()
    lim = make(2.0, 3, clock)
    assert [lim.allow("k")[0] for _ in range(3)] == [True, True, True]
    assert lim.allow("k") == (False, pytest.approx(0.5))
    clock.t += 0.25
    assert lim.allow("k") == (False, pytest.approx(0.25))  # a refusal costs nothing
    clock.t += 0.25
    assert lim.allow("k") == (True, 0.0)
    assert lim.allow("k")[0] is False


def test_keys_have_separate_buckets_and_refill_caps_at_burst(make: MakeLimiter) -> None:
    clock = FakeClock()
    lim = make(1.0, 2, clock)
    assert lim.allow("a")[0] and lim.allow("a")[0] and not lim.allow("a")[0]
    assert lim.allow("b")[0]
    clock.t += 1_000
    assert [lim.allow("a")[0] for _ in range(3)] == [True, True, False]


def test_cost_takes_several_tokens(make: MakeLimiter) -> None:
    lim = make(1.0, 5, FakeClock())
    assert lim.allow("k", cost=4) == (True, 0.0)
    ok, wait = lim.allow("k", cost=3)
    assert not ok and wait == pytest.approx(2.0)
    with pytest.raises(ValueError, match="cost"):
        lim.allow("k", cost=6)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0.5), (float("nan"), 2)])
def test_bad_settings_are_config_errors(rate: float, burst: float) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(rate, burst)


def test_threads_cannot_overdraw_a_bucket(make: MakeLimiter) -> None:
    lim = make(0.001, 20, FakeClock())
    results: list[bool] = []
    lock = threading.Lock()

    def hit() -> None:
        for _ in range(10):
            ok = lim.allow("shared")[0]
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(results) == 20 and len(results) == 60


def test_idle_full_buckets_are_forgotten_but_drained_ones_kept() -> None:
    clock = FakeClock()
    lim = RateLimiter(1.0, 2, clock=clock, max_keys=10)
    lim.allow("busy")
    lim.allow("busy")
    for i in range(10):
        lim.allow(f"idle{i}")
    clock.t += 5  # idle buckets refill to full; 'busy' was drained just before
    lim.allow("busy")
    lim.allow("busy")
    lim.allow("new")
    assert "busy" in lim.tracked_keys() and len(lim.tracked_keys()) <= 10
    assert lim.allow("busy")[0] is False


def test_redis_replicas_share_one_limit(redis_url: str) -> None:
    clock = FakeClock()
    a = RedisRateLimiter(redis_url, 1.0, 4, clock=clock)
    b = RedisRateLimiter(redis.Redis.from_url(redis_url), 1.0, 4, clock=clock)
    got = [lim.allow("key1")[0] for lim in (a, b, a, b, a, b)]
    assert got == [True, True, True, True, False, False]
    a.close()
    b.close()


def test_redis_server_clock_and_expiry(redis_url: str) -> None:
    lim = RedisRateLimiter(redis_url, 0.001, 2, prefix="t:rl:")
    assert lim.allow("k")[0] and lim.allow("k")[0]
    ok, wait = lim.allow("k")
    assert not ok and 100 < wait <= 1000
    assert 0 < lim.r.pttl("t:rl:k") <= 2_001_000  # forgotten once it would be full again
    lim.close()


def test_memory_stays_bounded_when_every_bucket_is_busy() -> None:
    lim = RateLimiter(0.001, 1, clock=FakeClock(), max_keys=10)
    for i in range(50):
        assert lim.allow(f"k{i}")[0]  # each key drains its bucket
    assert len(lim.tracked_keys()) <= 10
    assert lim.allow("k49")[0] is False  # the most recent keys are still limited


def test_failed_authentications_are_limited_per_address_and_per_key_id(
    make: MakeLimiter,
) -> None:
    clock = FakeClock()
    fails = FailedAuthLimiter(make(1.0, 3.0, clock))
    # an address: 3 failures answer 401, the 4th and later 429 until it earns a token back
    assert [fails.failed("10.0.0.9", None) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert fails.failed("10.0.0.9", None) == pytest.approx(1.0)
    assert fails.failed("10.0.0.9", None) == pytest.approx(1.0)  # refused: no token taken
    assert fails.failed("10.0.0.8", None) == 0.0  # other addresses are not affected
    clock.t += 1.0
    assert fails.failed("10.0.0.9", None) == 0.0
    assert fails.failed("10.0.0.9", None) > 0
    # a key id: failures from many addresses run out its bucket, whoever sends them
    waits = [fails.failed(f"10.1.0.{n}", "0123456789ab") for n in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0
    assert fails.failed("10.1.0.0", None) == 0.0  # its address has failed once only
