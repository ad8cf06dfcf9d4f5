"""An elastic fleet on loopback: the shipped HAProxy config in front of ``prismrec serve``
replicas on one Redis, a replica killed and another added under load (issue 29).

No containers: every part is a process on 127.0.0.1. The client sends a paced stream of
reads through the load balancer for at least a minute, and counts as a failure every answer
that is not 2xx and every connection error or timeout.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from prismrec.serving.access.auth import create_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 250.0  # requests/s through the load balancer
MIN_SECONDS = 60.0
WORKERS = 16  # client connections
USERS = [f"u{n}" for n in range(60)]  # the served model's users (conftest.write_genre_world)


class Load:
    """Open-loop reads at ``rate``/s over ``workers`` keep-alive connections, in threads.

    Request ``i`` is due at ``i / rate`` s; a worker sends its requests in turn (a slow answer
    delays the worker's later ones, never drops them). Runs until :meth:`stop` and at least
    ``min_seconds``, at most ``max_seconds``.
    """

    def __init__(self, url: str, key: str, rate: float, workers: int) -> None:
        self.url, self.key, self.rate, self.workers = url, key, rate, workers
        self.codes: Counter[str] = Counter()
        self.failures: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Load:
        self.t0 = time.monotonic()
        for w in range(self.workers):
            t = threading.Thread(target=self._worker, args=(w,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, min_seconds: float, max_seconds: float = 240.0) -> float:
        """End the load once it has run ``min_seconds``; its duration."""
        time.sleep(max(0.0, self.t0 + min_seconds - time.monotonic()))
        self._stop.set()
        for t in self._threads:
            t.join(max_seconds)
        return time.monotonic() - self.t0

    def _worker(self, w: int) -> None:
        rng = random.Random(w)
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            i = w
            while not self._stop.is_set():
                delay = self.t0 + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                user = rng.choice(USERS)
                path = f"/v1/users/{user}/recommendations?k=10" if i % 10 else "/v1/noop"
                try:
                    status = str(client.get(path).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.codes[status] += 1
                    if not status.startswith("2"):
                        self.failures.append((time.monotonic() - self.t0, f"{path}: {status}"))
                i += self.workers


def ids(client: httpx.Client, user: str) -> tuple[str, list[str]]:
    """The source and item ids of ``user``'s list from one replica."""
    r = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["source"], [x["item_id"] for x in body["items"]]


def post(client: httpx.Client, user: str, items: list[str]) -> None:
    events = [{"user_id": user, "item_id": i, "event_type": "click"} for i in items]
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == len(items), r.text


def fifty_wrong_then_right(url: str, key: str) -> tuple[list[int], int, int]:
    wrong = {"Authorization": "Bearer prk_0000000000ff_" + "E" * 43}
    with httpx.Client(base_url=url, timeout=30) as c:
        codes = [c.get("/v1/noop", headers=wrong).status_code for _ in range(50)]
        right = c.get("/v1/noop", headers={"Authorization": f"Bearer {key}"}).status_code
        again = c.get("/v1/noop", headers=wrong).status_code
    return codes, right, again


def test_kill_and_add_a_replica_under_load(
    tmp_path: Path, served_model: Path, redis_factory, start_api, haproxy_factory, wait_until
) -> None:
    store = redis_factory().url
    keys = {r: create_key(store, r) for r in ("read", "write", "admin")}
    # failed authentications are limited (20 at once, then one per 100 s) in the shared Redis;
    # per-key request limits are off so that one key can carry the whole load
    env = {"PRISMREC_AUTH_FAIL_PER_S": "0.01"}
    replicas = []

    def replica(name: str):  # noqa: ANN202
        r = start_api(
            served_model, store, tmp_path / name, keys=keys, extra=("--rate", "0"), env=env
        )
        replicas.append(r)
        return r

    try:
        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(replica, ["a", "b"])
        lb = haproxy_factory([a.port, b.port])
        load = Load(lb.url, keys["read"], RATE, WORKERS).start()
        try:
            killed_at, stopped_at = exercise(lb, load, a, b, replica, wait_until)
        finally:
            seconds = load.stop(MIN_SECONDS)
    finally:
        for r in replicas:
            r.stop()
    total = sum(load.codes.values())
    print(
        f"{total} requests in {seconds:.0f} s ({total / seconds:.0f}/s), codes {dict(load.codes)}"
        f", B killed at {killed_at:.0f} s, A stopped at {stopped_at:.0f} s"
    )
    assert load.failures == []
    assert total >= 0.9 * RATE * MIN_SECONDS  # the load really ran at about its rate


def exercise(lb, load: Load, a, b, replica, wait_until) -> tuple[float, float]:  # noqa: ANN001
    """What happens to the fleet while the load runs; when B was killed and A stopped."""
    time.sleep(3)
    # an event posted through A changes the list B serves, at once
    with a.client("write") as ca, b.client("read") as cb:
        before = ids(cb, "fresh-1")
        post(ca, "fresh-1", ["m1", "m4", "m7"])
        after = ids(cb, "fresh-1")
    assert before[0] == "popular" and after[0] == "personalised" and after[1] != before[1]
    # 50 wrong keys through the load balancer: the load's valid key, from the same address,
    # keeps passing (counted by the load); so does a request of its own
    codes, right, again = fifty_wrong_then_right(lb.url, a.keys["read"])
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert right == 200 and again == 429
    # a replica dies without warning (SIGKILL): requests it held are retried on another
    time.sleep(3)
    b.kill()
    killed_at = time.monotonic() - load.t0
    # a third replica starts, and joins once it is ready
    c = replica("c")
    lb.add(1, c.port)
    assert wait_until(lambda: "slot1" in lb.up())
    with c.client("read") as cc, a.client("read") as ca:
        for user in [*USERS[:10], "fresh-1"]:
            assert ids(cc, user) == ids(ca, user), user  # the same lists
        with c.client("write") as cw:
            post(cw, "fresh-2", ["m2", "m5"])
        assert ids(ca, "fresh-2")[0] == "personalised"
    served_by_c = int(lb.stats()["slot1"]["stot"])
    time.sleep(5)
    assert int(lb.stats()["slot1"]["stot"]) > served_by_c  # C takes its share of the load
    # the first replica leaves gracefully (SIGTERM: uvicorn drains what it holds)
    a.stop()
    stopped_at = time.monotonic() - load.t0
    time.sleep(5)
    return killed_at, stopped_at
