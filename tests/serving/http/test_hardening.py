"""What an attacker or a careless client does to a real ``prismrec serve`` (issue 15)."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from prismrec.serving.state.store import open_store

pytestmark = pytest.mark.integration

EVENT = {"user_id": "a", "item_id": "m1", "event_type": "click", "timestamp": 1_800_000_000}


def post(c: httpx.Client, body: bytes | str) -> httpx.Response:
    return c.post("/v1/events", content=body, headers={"content-type": "application/json"})


# ---- item 1: keys: same answer for known and unknown ids; failures rate-limited -----------
def test_failed_authentications_are_limited_per_address_not_for_others(api_factory) -> None:
    api = api_factory(env={"PRISMREC_AUTH_FAIL_BURST": "5", "PRISMREC_AUTH_FAIL_PER_S": "0.5"})
    real_id = api.keys["read"].split("_")[1]
    wrong_secret = f"prk_{real_id}_" + "A" * 43
    unknown_id = "prk_000000000000_" + "A" * 43
    # the default trusted_proxies (loopback) let one machine play several forwarded clients
    attacker = {"X-Forwarded-For": "127.0.0.2"}
    codes = []
    for key in [wrong_secret, unknown_id] * 4:
        r = httpx.get(f"{api.url}/v1/noop", headers={**attacker, "Authorization": f"Bearer {key}"})
        codes.append(r.status_code)
        if r.status_code == 401:
            assert r.json() == {"detail": "invalid or revoked API key"}  # the same for both
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert int(r.headers["retry-after"]) >= 1
    # the right key from the throttled address passes; other clients' wrong keys are 401
    good = {"Authorization": f"Bearer {api.keys['read']}"}
    assert httpx.get(f"{api.url}/v1/noop", headers={**attacker, **good}).status_code == 200
    other = {"X-Forwarded-For": "127.0.0.3", "Authorization": f"Bearer {unknown_id}"}
    assert httpx.get(f"{api.url}/v1/noop", headers=other).status_code == 401


def wrong_then_right(url: str, keys: dict[str, str], n: int = 50) -> tuple[list[int], int, int]:
    """``n`` wrong keys, then the right one, then a wrong one again, all from one client."""
    wrong = {"Authorization": "Bearer prk_000000000000_" + "C" * 43}
    with httpx.Client(base_url=url, timeout=30) as c:
        codes = [c.get("/v1/noop", headers=wrong).status_code for _ in range(n)]
        right = c.get("/v1/noop", headers={"Authorization": f"Bearer {keys['read']}"})
        again = c.get("/v1/noop", headers=wrong).status_code
    return codes, right.status_code, again


def test_a_valid_key_passes_after_fifty_wrong_ones_from_its_address(api_factory) -> None:
    api = api_factory()  # the default limits: 20 failures at once, then 1/s
    assert api.keys is not None
    codes, right, again = wrong_then_right(api.url, api.keys)
    assert set(codes) == {401, 429} and codes[:20] == [401] * 20 and codes[-1] == 429
    assert right == 200  # the key is checked before the address's failures are
    assert again == 429  # and the failures stay throttled


@pytest.mark.parametrize("trusted", [True, False])
def test_forwarded_for_names_the_client_only_from_trusted_proxies(
    api_factory, trusted: bool
) -> None:
    env = {"PRISMREC_AUTH_FAIL_BURST": "3", "PRISMREC_AUTH_FAIL_PER_S": "0.1"}
    if not trusted:
        env["PRISMREC_TRUSTED_PROXIES"] = "10.255.255.1"  # a proxy; loopback is not one
    api = api_factory(env=env, extra=("--log-level", "info"))
    for n in range(4):  # four "clients" behind the same peer, 127.0.0.1, each a wrong key
        wrong = f"Bearer prk_00000000000{n}_" + "D" * 43  # key ids differ: not limited by id
        r = httpx.get(
            f"{api.url}/v1/noop",
            headers={"X-Forwarded-For": f"192.0.2.{n}", "Authorization": wrong},
        )
    # trusted: each forwarded client failed once (401); untrusted: one address failed 4 times
    assert r.status_code == (401 if trusted else 429)
    log = (api.workdir / f"serve-{api.port}.log").read_text()
    assert ('192.0.2.3:0 - "GET /v1/noop' in log) is trusted  # the access log's client too


def test_a_key_id_under_attack_still_admits_its_owner(api_factory) -> None:
    api = api_factory(env={"PRISMREC_AUTH_FAIL_BURST": "3", "PRISMREC_AUTH_FAIL_PER_S": "0.1"})
    key_id = api.keys["read"].split("_")[1]
    codes = [
        httpx.get(
            f"{api.url}/v1/noop",
            headers={
                "X-Forwarded-For": f"127.0.1.{n}",
                "Authorization": f"Bearer prk_{key_id}_{'B' * 43}",
            },
        ).status_code
        for n in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]  # spread over addresses, limited by key id
    with api.client("read") as c:
        assert c.get("/v1/noop").status_code == 200


# ---- item 2: metrics labels from fixed sets ------------------------------------------------
def test_made_up_methods_and_paths_add_no_metric_series(api) -> None:
    def attack(c: httpx.Client, tag: str) -> str:
        for n in range(200):
            c.request(f"M{tag}{n}", "/healthz")
            c.get(f"/no/such/path/{tag}{n}")
        return c.get("/metrics").text

    with httpx.Client(base_url=api.url) as c:
        c.get("/metrics")  # its own series exists from now on
        first = attack(c, "a")
        second = attack(c, "b")  # 400 more made-up requests add no line
    assert 'method="other"' in second and "Ma1" not in second and "/no/such" not in second
    assert second.count("\n") == first.count("\n")


# ---- item 3: one id policy at ingest, in paths and in the store ----------------------------
@pytest.mark.parametrize("bad", ["team/alice", "tab\there", "nul\u0000", "..", "x" * 257])
def test_ids_no_path_could_address_are_refused_at_ingest(api, bad: str) -> None:
    with api.client("write") as c:
        r = c.post("/v1/events", json={"events": [{**EVENT, "user_id": bad}]})
        assert r.status_code == 422 and "user_id" in r.json()["detail"]
        r = c.post("/v1/events", json={"events": [{**EVENT, "item_id": bad}]})
        assert r.status_code == 422 and "item_id" in r.json()["detail"]
    with api.client("admin") as c:
        assert c.get("/v1/users/a%01b/interests").status_code == 422
        assert c.put("/v1/items/a%5Cb", json={"title": "x"}).status_code == 422
        # an odd but allowed id goes in and out through its percent-encoded path
        odd = "team alice?#%"
        assert c.post("/v1/events", json={"events": [{**EVENT, "user_id": odd}]}).is_success
        path = "/v1/users/" + "team%20alice%3F%23%25"
        assert c.get(f"{path}/interests").json()["n_events"] == 1
        assert c.delete(path).status_code in (200, 202)


# ---- items 4 and 5: deletion true when it answers; unknown ids change nothing ---------------
def test_deletion_with_a_reader_holding_a_snapshot_is_pending_until_done(
    api_factory, tmp_path: Path, wait_until
) -> None:
    db = tmp_path / "erase.db"
    api = api_factory(f"sqlite:{db}")
    with api.client("admin") as c:
        events = [{**EVENT, "user_id": "erin-private", "item_id": f"m{n % 60}"} for n in range(300)]
        assert c.post("/v1/events", json={"events": events}).status_code == 200
        reader = sqlite3.connect(db, isolation_level=None)  # a backup, a monitoring query ...
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()
        r = c.delete("/v1/users/erin-private")
        assert r.status_code == 202 and r.json()["erasure"] == "pending"
        assert c.get("/v1/erasure").json() == {"status": "pending", "pending": 1}
        assert "prismrec_erasure_pending 1.0" in c.get("/metrics").text
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("erase.db*"))
        assert b"erin-private" in raw  # what a 200 claimed was gone before
        reader.execute("COMMIT")
        reader.close()
        assert wait_until(lambda: c.get("/v1/erasure").json()["status"] == "complete")
        assert "prismrec_erasure_pending 0.0" in c.get("/metrics").text
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("erase.db*"))
    assert b"erin-private" not in raw


def test_deleting_an_unknown_user_is_404_and_writes_nothing(api_factory, tmp_path: Path) -> None:
    db = tmp_path / "unknown.db"
    api = api_factory(f"sqlite:{db}")
    with api.client("admin") as c:
        assert c.delete("/v1/users/never-seen").status_code == 404
        assert c.delete("/v1/users/u7").status_code == 200  # trained: its history goes
        assert c.delete("/v1/users/u7").status_code == 404  # and then there is nothing left
    store = open_store(f"sqlite:{db}")
    rows = store.db.conn().execute("SELECT tombstone FROM deleted_users").fetchall()  # type: ignore[attr-defined]
    store.close()
    assert len(rows) == 1  # only u7's, keyed: not sha256("prismrec-deleted:u7")
    import hashlib

    assert rows[0][0] != hashlib.sha256(b"prismrec-deleted:u7").hexdigest()


# ---- item 6: the key is checked before the body is read --------------------------------------
def test_no_key_and_a_bad_body_is_401(api) -> None:
    for headers in ({}, {"Authorization": "Bearer prk_000000000000_" + "x" * 43}):
        r = httpx.post(
            f"{api.url}/v1/events",
            content=b'{"events": [',
            headers={**headers, "content-type": "application/json"},
        )
        assert r.status_code == 401, r.text
    with api.client("read") as c:  # a key without the role: 403, not 422
        assert post(c, b"\xff\xfe").status_code == 403


# ---- item 7: every malformed body is 422; strict types; known event types ------------------
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"events": [{"user_id": "\xff"}]}', "malformed JSON"),
        (b'{"events": ' + b"[" * 1000 + b"]" * 1000 + b"}", "malformed JSON"),
        (b'{"events": [{"user_id": "a", "timestamp": ' + b"9" * 5000 + b"}]}", "malformed JSON"),
        (
            b'{"events": [{"user_id": "a", "item_id": "m1", "event_type": "click", '
            b'"timestamp": true}]}',
            "timestamp",
        ),  # fmt: skip
        (
            b'{"events": [{"user_id": "a", "item_id": "m1", "event_type": "click", '
            b'"timestamp": "123"}]}',
            "timestamp",
        ),  # fmt: skip
        (b'{"events": [{"user_id": 5, "item_id": "m1", "event_type": "click"}]}', "user_id"),
        (b'{"events": [{"user_id": "a", "item_id": "m1", "event_type": "clik"}]}', "click"),
        (b"", "malformed JSON"),
    ],
)
def test_malformed_and_mistyped_bodies_are_422(api, body: bytes, where: str) -> None:
    with api.client("write") as c:
        r = post(c, body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert where in out["detail"] and out["errors"] and "where" in out["errors"][0]


def test_item_fields_are_not_coerced(api) -> None:
    with api.client("write") as c:
        for body in ({"title": 5}, {"title": True}, {"genres": [1, 2]}, {"title": ["a"]}):
            r = c.put("/v1/items/strict-1", json=body)
            assert r.status_code == 422, (body, r.text)
        r = c.put("/v1/items/strict-1", content=b'{"title": "x", "year": 1e999}')
        assert r.status_code == 422
        assert c.put("/v1/items/strict-1", json={"title": "a real title"}).status_code == 200


def test_unknown_event_types_name_the_known_ones(api) -> None:
    with api.client("write") as c:
        r = c.post("/v1/events", json={"events": [EVENT, {**EVENT, "event_type": "clik"}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["where"] == "body.events.1.event_type"
    assert "use one of [" in r.json()["detail"] and "'click', " in r.json()["detail"]


# ---- item 9: read timeouts and the connection limit ----------------------------------------
def test_slow_headers_and_bodies_are_cut_off(api_factory) -> None:
    api = api_factory(env={"PRISMREC_HEADER_TIMEOUT_S": "1", "PRISMREC_BODY_TIMEOUT_S": "1"})
    half = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(50)]
    for s in half:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    idle = socket.create_connection(("127.0.0.1", api.port))  # sends nothing at all
    body = socket.create_connection(("127.0.0.1", api.port))
    body.sendall(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + api.keys["write"].encode() + b"\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"events": ['
    )
    t0 = time.monotonic()
    for s in [*half, idle]:
        s.settimeout(10)
        assert s.recv(1024) == b""  # closed by the server, not left open
    body.settimeout(10)
    answer = body.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - t0 < 8
    for s in [*half, idle, body]:
        s.close()
    assert httpx.get(f"{api.url}/healthz").status_code == 200


def test_connections_over_the_limit_get_503(api_factory, wait_until) -> None:
    api = api_factory(env={"PRISMREC_MAX_CONNECTIONS": "8"})
    held = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(10)]
    time.sleep(0.3)
    try:
        assert httpx.get(f"{api.url}/healthz").status_code == 503
    finally:
        for s in held:
            s.close()
    assert wait_until(lambda: httpx.get(f"{api.url}/healthz").status_code == 200)
