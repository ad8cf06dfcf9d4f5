"""The live snapshot (``GET /v1/admin/live``, the ``/ui`` operations page): rates, latency
percentiles and errors over a sliding window from the metrics middleware's own records, events/s,
the cache and the model, with bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from prismrec.serving.access.auth import create_key
from prismrec.serving.http.app import create_app
from prismrec.serving.metrics import Recent
from prismrec.serving.settings import ServeSettings
from prismrec.training.manifest import read_manifest

T = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def by_route(snap: dict) -> dict[str, dict]:
    return {r["route"]: r for r in snap["routes"]}


def test_a_sliding_window_of_known_traffic() -> None:
    clock = Clock()
    recent = Recent(clock=clock)
    clock.t += 30  # up for 30 s: the rates are over 30 s
    for ms in range(1, 11):
        recent.request("GET /a", 200, ms / 1000)
    recent.request("GET /a", 404, 0.5)
    recent.request("GET /b", 429, 0.002)
    recent.request("POST /b", 503, 0.003)
    recent.events(5)
    snap = recent.snapshot()
    assert snap["window_s"] == 30
    a = by_route(snap)["GET /a"]
    assert (a["requests"], a["status_4xx"], a["status_5xx"]) == (11, 1, 0)
    assert a["per_s"] == pytest.approx(11 / 30)
    assert a["p50_ms"] == pytest.approx(6.0)  # nearest rank: the 6th of 11
    assert a["p99_ms"] == pytest.approx(500.0)
    assert a["ratio_4xx"] == pytest.approx(1 / 11)
    total = snap["total"]
    assert (total["requests"], total["status_4xx"], total["status_429"]) == (13, 2, 1)
    assert total["status_5xx"] == 1 and total["ratio_5xx"] == pytest.approx(1 / 13)
    assert snap["events"] == {"ingested": 5, "per_s": pytest.approx(5 / 30)}

    clock.t += 45  # up 75 s: a 60 s window, still holding everything
    assert recent.snapshot()["window_s"] == 60
    assert recent.snapshot()["total"]["requests"] == 13
    clock.t += 20  # the records are 65 s old: out of the window
    snap = recent.snapshot()
    assert snap["routes"] == [] and snap["events"]["ingested"] == 0
    assert snap["total"]["requests"] == 0 and snap["total"]["p99_ms"] is None


def test_memory_is_bounded_and_the_window_says_how_far_it_reaches() -> None:
    clock = Clock()
    recent = Recent(keep=100, clock=clock)
    clock.t += 120
    for _ in range(500):  # 10 requests/s for 50 s, 100 kept: the last 10 s
        clock.t += 0.1
        recent.request("GET /a", 200, 0.001)
    snap = recent.snapshot()
    assert snap["total"]["requests"] == 100
    assert snap["window_s"] == pytest.approx(9.9)
    assert snap["total"]["per_s"] == pytest.approx(100 / 9.9)


def test_the_endpoint_shows_the_traffic_sent(served_model: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    store = f"sqlite:{tmp_path / 'state.db'}"
    settings = ServeSettings(model_dir=served_model, store=store, model_sync_s=0)
    keys = {role: create_key(store, role) for role in ("read", "write", "admin")}
    auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    with TestClient(create_app(settings)) as c:
        for _ in range(20):
            assert c.get("/v1/noop", headers=auth["read"]).status_code == 200
        for _ in range(3):
            assert c.get("/v1/items/nope/similar", headers=auth["read"]).status_code == 404
        for k in (0, -1):
            r = c.get("/v1/users/u1/recommendations", params={"k": k}, headers=auth["read"])
            assert r.status_code == 422
        assert c.get("/v1/users/u1/recommendations", headers=auth["read"]).status_code == 200
        for user, n in (("ann", 3), ("bob", 2)):
            batch = [
                {
                    "user_id": user,
                    "item_id": "m1",
                    "event_type": "click",
                    "timestamp": 1_800_000_000,
                }
            ] * n
            assert c.post("/v1/events", json={"events": batch}, headers=auth["write"]).is_success
        refused = c.get("/v1/admin/live", headers=auth["read"])
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        r = c.get("/v1/admin/live", headers=auth["admin"])
        assert r.status_code == 200, r.text
        snap = r.json()
        metrics = c.get("/metrics").text

    window = snap["window_s"]
    assert 1 <= window <= 60
    routes = by_route(snap)
    noop = routes["GET /v1/noop"]
    assert (noop["requests"], noop["status_4xx"], noop["status_5xx"]) == (20, 0, 0)
    assert noop["per_s"] == pytest.approx(20 / window)
    assert 0 < noop["p50_ms"] <= noop["p99_ms"]
    similar = routes["GET /v1/items/{item_id}/similar"]
    assert (similar["requests"], similar["status_4xx"], similar["ratio_4xx"]) == (3, 3, 1.0)
    recs = routes["GET /v1/users/{user_id}/recommendations"]
    assert (recs["requests"], recs["status_4xx"]) == (3, 2)
    assert routes["POST /v1/events"]["requests"] == 2
    assert routes["GET /v1/admin/live"]["status_4xx"] == 1  # the read key's try
    assert snap["total"]["requests"] == sum(r["requests"] for r in snap["routes"])
    assert snap["total"]["status_5xx"] == 0
    assert snap["events"] == {"ingested": 5, "per_s": pytest.approx(5 / window)}
    assert "prismrec_events_ingested_total 5.0" in metrics

    assert snap["status"] == "ready"
    manifest = read_manifest(served_model)
    assert manifest is not None and snap["model"]["version"] == manifest.version
    assert (snap["model"]["swaps"], snap["model"]["failed_loads"]) == (0, 0)
    assert snap["cache"]["users"] == 1 and snap["cache"]["max_users"] == settings.user_cache
    assert snap["cache"]["context_bytes"] > 0
    assert snap["ab"] is None


def test_the_endpoint_answers_while_the_model_loads(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = ServeSettings(model_dir=tmp_path, store=f"sqlite:{tmp_path / 's.db'}", auth=False)
    client = TestClient(create_app(settings))  # no lifespan: no model loaded
    first = client.get("/v1/noop")
    assert first.status_code == 200
    snap = client.get("/v1/admin/live").json()
    assert snap["status"] == "starting" and snap["model"] is None and snap["cache"] is None
    assert by_route(snap)["GET /v1/noop"]["requests"] == 1
