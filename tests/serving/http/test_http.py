"""The HTTP API end to end: a real ``prismrec serve`` process (uvicorn), real SQLite and Redis."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from prismrec.serving.state.store import open_store

pytestmark = pytest.mark.integration


def events(user: str, items: list[str], t0: int = 1_800_000_000) -> dict:
    return {
        "events": [
            {"user_id": user, "item_id": i, "event_type": "click", "timestamp": t0 + 60 * n}
            for n, i in enumerate(items)
        ]
    }


def ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [x["item_id"] for x in resp.json()["items"]]


def genre_of(item: str) -> str:
    return ("Action", "Comedy", "Drama")[int(item[1:]) % 3]


def test_an_event_changes_the_next_recommendation(api) -> None:
    with api.client("write") as c:
        cold = c.get("/v1/users/zoe/recommendations", params={"k": 10})
        assert cold.json()["source"] == "popular"
        # zoe watches comedies only: the next list is personalised and leans to comedy
        assert (
            c.post("/v1/events", json=events("zoe", ["m1", "m4", "m7", "m10"])).status_code == 200
        )
        warm = c.get("/v1/users/zoe/recommendations", params={"k": 10})
        assert warm.json()["source"] == "personalised"
        assert ids(warm) != ids(cold)
        assert Counter(map(genre_of, ids(warm)))["Comedy"] >= 6
        assert not {"m1", "m4", "m7", "m10"} & set(ids(warm))  # seen items are filtered
        # a switch to drama moves the list at once
        c.post("/v1/events", json=events("zoe", ["m2", "m5", "m8", "m11", "m14"], 1_800_100_000))
        drama = c.get("/v1/users/zoe/recommendations", params={"k": 10})
        assert ids(drama) != ids(warm)
        assert (
            Counter(map(genre_of, ids(drama)))["Drama"] > Counter(map(genre_of, ids(warm)))["Drama"]
        )


def test_a_trained_user_gets_explained_steerable_interests(api) -> None:
    with api.client("read") as c:
        out = c.get("/v1/users/u1/interests").json()
        # two long-term interests and the short-term one
        assert [i["term"] for i in out["interests"]] == ["long", "long", "short"]
        assert abs(sum(i["weight"] for i in out["interests"]) - 1) < 1e-3
        assert all(i["label"] and i["top_items"] for i in out["interests"])
        rec = c.get("/v1/users/u1/recommendations", params={"k": 6, "explain": True}).json()
        for item in rec["items"]:
            note = item["explanation"]
            assert note["interest"] == item["interest"] and note["label"]
            assert note["events"] and all(e["item_id"].startswith("m") for e in note["events"])
        muted = c.get("/v1/users/u1/recommendations", params={"k": 6, "mute": 0}).json()
        assert {i["interest"] for i in muted["items"]} <= {1, 2} and len(muted["items"]) == 6
        no_comedy = c.get(
            "/v1/users/u1/recommendations", params={"k": 10, "exclude_categories": "Comedy"}
        )
        assert "Comedy" not in set(map(genre_of, ids(no_comedy)))


def test_a_new_item_is_recommendable_at_once(api) -> None:
    with api.client("write") as c:
        body = {"title": "funny laughs story brand new", "genres": ["Comedy"]}
        r = c.put("/v1/items/fresh-1", json=body)
        assert r.status_code == 200 and r.json()["created"] is True
        similar = ids(c.get("/v1/items/fresh-1/similar", params={"k": 5}))
        assert Counter(map(genre_of, similar))["Comedy"] >= 4  # placed by content alone
        c.post("/v1/events", json=events("cara", ["m1", "m4", "m7"]))
        allowed = c.get("/v1/users/cara/recommendations", params={"k": 3, "allow": "fresh-1,m0,m2"})
        assert ids(allowed)[0] == "fresh-1"  # the comedy fan ranks the new comedy first
        # an event on the new item is understood; deletion takes it out of every list
        c.post("/v1/events", json=events("dan", ["fresh-1"]))
        assert c.get("/v1/users/dan/interests").json()["n_events"] == 1
        assert c.delete("/v1/items/fresh-1").status_code == 200
        assert c.get("/v1/items/fresh-1/similar").status_code == 404
        gone = c.get("/v1/users/cara/recommendations", params={"k": 60})
        assert "fresh-1" not in ids(gone)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_deleted_user_is_gone_from_every_store(
    api_factory, backend, tmp_path: Path, request, wait_until
):
    url = (
        f"sqlite:{tmp_path / 'del.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("redis_url")
    )
    api = api_factory(url)
    with api.client("admin") as c:
        c.post("/v1/events", json=events("erin", ["m1", "m2"]))
        assert c.get("/v1/users/erin/recommendations").json()["source"] == "personalised"
        out = c.delete("/v1/users/erin").json()
        assert out["deleted_events"] == 2
        assert c.get("/v1/users/erin/interests").status_code == 404
        assert c.get("/v1/users/erin/recommendations").json()["source"] == "popular"
        # a user the model was trained on loses the trained history as well
        assert c.get("/v1/users/u5/interests").status_code == 200
        assert c.delete("/v1/users/u5").status_code in (200, 202)
        assert c.get("/v1/users/u5/interests").status_code == 404
        assert wait_until(lambda: c.get("/v1/erasure").json()["status"] == "complete")
    store = open_store(url)
    assert store.history("erin") == [] and store.version("erin") == 0
    assert "erin" not in store.users()
    store.close()
    if backend == "redis":
        keys = [k.decode() for k in redis.Redis.from_url(url).keys("*")]
        assert not [k for k in keys if "erin" in k or ":u5:" in k]
    else:
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("del.db*"))
        assert b"erin" not in raw


def test_bad_keys_get_401_and_weak_roles_403(api) -> None:
    base = api.url
    assert httpx.get(f"{base}/v1/users/u1/recommendations").status_code == 401
    bad = {"Authorization": "Bearer prk_000000000000_" + "x" * 43}
    r = httpx.get(f"{base}/v1/users/u1/recommendations", headers=bad)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with api.client("read") as c:
        assert c.get("/v1/users/u1/recommendations").status_code == 200
        assert c.post("/v1/events", json=events("x", ["m1"])).status_code == 403
        assert c.delete("/v1/users/u1").status_code == 403
    with api.client("write") as c:
        assert c.post("/v1/events", json=events("x", ["m1"])).status_code == 200
        assert c.delete("/v1/users/u1").status_code == 403
    assert httpx.get(f"{base}/healthz").status_code == 200  # probes need no key


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"events": [', "malformed JSON"),
        ("{}", "body.events"),
        ('{"events": []}', "body.events"),
        ('{"events": [{"user_id": "a", "item_id": "m1"}]}', "event_type"),
        (
            '{"events": [{"user_id": "a", "item_id": "m1", "event_type": "x", '
            '"timestamp": "soon"}]}',
            "timestamp",
        ),
        (
            '{"events": [{"user_id": "a", "item_id": "m1", "event_type": "x", "colour": 1}]}',
            "colour",
        ),
        ('{"events": [{"user_id": 7, "item_id": "m1", "event_type": "x"}]}', "user_id"),
        (
            '{"events": [{"user_id": "a", "item_id": "m1", "event_type": "x", '
            '"context": {"d": 1}}]}',
            "context",
        ),
    ],
)
def test_malformed_event_bodies_get_422_naming_the_field(api, body: str, where: str):
    with api.client("write") as c:
        r = c.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert where in r.json()["detail"] or any(where in e["where"] for e in r.json()["errors"])


def test_other_bad_requests_are_4xx_never_500(api) -> None:
    with api.client("admin") as c:
        cases = [
            c.get("/v1/users/u1/recommendations", params={"k": "ten"}),
            c.get("/v1/users/u1/recommendations", params={"k": 100000}),
            c.get("/v1/users/u1/recommendations", params={"diversity": 2}),
            c.get("/v1/users/u1/recommendations", params={"focus": 7}),
            c.get("/v1/users/u1/recommendations", params={"context": "nocolon"}),
            c.get("/v1/users/u1/recommendations", params={"profile": "shoe:42"}),
            c.get("/v1/users/u1/recommendations", params={"focus": "0,1"}),  # one index each
            c.put("/v1/items/z", json={"titel": "typo"}),
            c.put("/v1/items/z", json={"genres": "Comedy", "title": ["not", "a", "string"]}),
            c.put("/v1/items/z", json=[1, 2]),
            c.post("/v1/events", json={"events": [events("a", ["m1"])["events"][0]] * 1001}),
        ]
        assert [r.status_code for r in cases] == [422] * len(cases), [r.text for r in cases]
        assert all(r.json()["detail"] for r in cases)
        # excluding a category no item has, or allowing only unknown ids, is not an error
        r = c.get("/v1/users/u1/recommendations", params={"exclude_categories": "Nope"})
        assert r.status_code == 200 and r.json()["items"]
        r = c.get("/v1/users/u1/recommendations", params={"allow": "no-such-item"})
        assert r.status_code == 200 and r.json()["items"] == []
        assert c.get("/v1/items/nope/similar").status_code == 404
        assert c.delete("/v1/items/nope").status_code == 404
        assert c.get("/v1/users/nobody/interests").status_code == 404
        huge = b'{"events": [' + b" " * 2_000_000 + b"]}"
        assert c.post("/v1/events", content=huge).status_code == 413

        def chunks():
            yield b'{"events": ['
            for _ in range(40):
                yield b" " * 50_000
            yield b"]}"

        r = c.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413  # no Content-Length: counted while streaming
        spec = c.get("/openapi.json").json()
        assert "/v1/users/{user_id}/recommendations" in spec["paths"]
        metrics = c.get("/metrics").text
        assert (
            'prismrec_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="422"}'
            in metrics
        )
        assert "prismrec_index_items 60.0" in metrics
        assert 'status="500"' not in metrics


def test_rate_limit_answers_429_with_retry_after(api_factory) -> None:
    api = api_factory(extra=("--rate", "2"))
    with api.client("read") as c:
        codes = [c.get("/v1/noop").status_code for _ in range(600)]
    assert codes[0] == 200 and 429 in codes
    assert codes.count(200) < 590


def test_kill_and_restart_loses_nothing_acknowledged(api_factory, tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'crash.db'}"
    api = api_factory(url)
    acked: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with api.client("write") as c:
            n = 0
            while not stop.is_set():
                item = f"m{n % 60}"
                try:
                    r = c.post("/v1/events", json=events(f"w{n}", [item]))
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.append(f"w{n}")
                n += 1

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(2.0)
    api.kill()  # SIGKILL mid-stream
    stop.set()
    t.join()
    assert len(acked) > 10
    api.start()  # same port, same store
    store = open_store(url)
    missing = [u for u in acked if len(store.history(u)) != 1]
    store.close()
    assert missing == []
    with api.client("read") as c:
        assert c.get(f"/v1/users/{acked[-1]}/interests").json()["n_events"] == 1


def test_two_servers_sharing_redis_see_each_others_events(api_factory, redis_url: str) -> None:
    a = api_factory(redis_url)
    b = api_factory(redis_url, keys=a.keys)
    with a.client("write") as ca, b.client("write") as cb:
        cb.post("/v1/events", json=events("sam", ["m1", "m4"]))
        before = ids(cb.get("/v1/users/sam/recommendations", params={"k": 10}))  # b caches sam
        ca.post("/v1/events", json=events("sam", ["m2", "m5", "m8", "m11"], 1_800_100_000))
        after = cb.get("/v1/users/sam/recommendations", params={"k": 10})
        assert ids(after) != before
        assert cb.get("/v1/users/sam/interests").json()["n_events"] == 6
        # items added on one replica reach the other within its sync interval
        ca.put("/v1/items/shared-new", json={"title": "tearful family saga", "genres": ["Drama"]})
        time.sleep(1.5)
        assert cb.get("/v1/items/shared-new/similar").status_code == 200
