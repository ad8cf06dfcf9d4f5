"""Hot swap over HTTP: serve A, log events and a new item, export, warm-start B, swap to B under
load with no failed request, roll back to A; replicas on one Redis follow each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import prismrec as pr
from prismrec.serving.engine.service import Service
from prismrec.serving.http.app import create_app
from prismrec.serving.settings import ServeSettings
from prismrec.training.manifest import read_manifest, set_current

T0 = 1_800_000_000
NEW_ITEM = {"title": "explosive chase story brand new", "genres": ["Action"]}


def _version(model: Path) -> str:
    manifest = read_manifest(model)
    assert manifest is not None
    return manifest.version


def _metric(text: str, name: str) -> float:
    rows = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    assert rows, f"{name} not in /metrics"
    return float(rows[0].split()[1])


@pytest.fixture(scope="module")
def a_and_b(
    served_model: Path, tmp_path_factory: pytest.TempPathFactory, start_api: Callable[..., Any]
) -> Iterator[dict[str, Any]]:
    """Model A served by ``prismrec serve``; new users and a new item posted over HTTP; the
    store exported with ``prismrec data export``; B warm-started from A on it. A still runs."""
    work = tmp_path_factory.mktemp("hotswap")
    # no rate limit: three hammering threads outrun a key's 200 requests/s, and a 429 is not
    # what the swap test looks for
    server = start_api(served_model, f"sqlite:{work / 'state.db'}", work, extra=("--rate", "0"))
    try:
        with server.client("write") as c:
            assert c.put("/v1/items/m_new", json=NEW_ITEM).status_code == 200
            events = [
                {"user_id": u, "item_id": i, "event_type": "click", "timestamp": T0 + 10 * n + j}
                for n, u in enumerate(("new1", "new2", "new3"))
                for j, i in enumerate(("m0", "m_new", "m3", "m6", "m_new", "m9"))
            ]
            assert c.post("/v1/events", json={"events": events}).status_code == 200
        data_dir = json.loads((served_model / "model.json").read_text())["data_root"]
        exe = Path(sys.executable).parent / "prismrec"
        args = [str(exe), "data", "export", "--store", server.store, "--data", data_dir]
        subprocess.run([*args, "--out", str(work / "live")], check=True, capture_output=True)
        pr.train(work / "live", warm_start=served_model, out=work / "b", epochs=2)
        yield {"server": server, "a": served_model, "b": work / "b", "work": work}
    finally:
        server.stop()


def _hammer(
    url: str, key: str, users: list[str], stop: threading.Event, out: list[tuple[Any, ...]]
) -> None:
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as c:
        n = 0
        while not stop.is_set():
            user = users[n % len(users)]
            n += 1
            t = time.monotonic()
            try:
                r = c.get(f"/v1/users/{user}/recommendations", params={"k": 5})
                body = r.json() if r.status_code == 200 else {}
                out.append((t, time.monotonic(), r.status_code, body.get("model_version")))
            except httpx.HTTPError as exc:
                out.append((t, time.monotonic(), type(exc).__name__, None))


def test_swap_under_load_then_rollback(a_and_b: dict[str, Any]) -> None:
    server = a_and_b["server"]
    va, vb = _version(a_and_b["a"]), _version(a_and_b["b"])
    assert server.keys is not None
    users = ["u1", "u2", "new1", "new2", "someone-new", "u5"]
    stop = threading.Event()
    results: list[list[tuple[Any, ...]]] = [[] for _ in range(3)]
    threads = [
        threading.Thread(target=_hammer, args=(server.url, server.keys["read"], users, stop, out))
        for out in results
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)
    with server.client() as admin:
        r = admin.post("/v1/admin/model", json={"path": str(a_and_b["b"])})
        swapped_at = time.monotonic()
        assert r.status_code == 200, r.text
        assert r.json()["version"] == vb and r.json()["previous"]["version"] == va
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        seen = [x for out in results for x in out]
        assert len(seen) > 20
        assert all(status == 200 for _, _, status, _ in seen), {s for _, _, s, _ in seen}
        assert {v for *_, v in seen} == {va, vb}  # both served, nothing else
        after = [v for start, _, _, v in seen if start > swapped_at]
        assert after and set(after) == {vb}

        status = admin.get("/v1/admin/model").json()
        assert status["version"] == vb and status["previous"]["version"] == va
        assert status["loading"] is None and status["swaps"] == 1
        # B was trained on the new item: some of its lists hold it
        lists = [
            admin.get(f"/v1/users/u{u}/recommendations", params={"k": 20}).json()
            for u in range(0, 30, 3)
        ]
        assert all(body["model_version"] == vb for body in lists)
        assert any(i["item_id"] == "m_new" for body in lists for i in body["items"])
        text = admin.get("/metrics").text
        assert f'prismrec_model_info{{version="{vb}"}} 1.0' in text
        assert f'version="{va}"' not in text
        assert _metric(text, "prismrec_model_swaps_total") == 1.0

        back = admin.post("/v1/admin/model/rollback")
        assert back.status_code == 200, back.text
        assert back.json()["version"] == va and back.json()["previous"]["version"] == vb
        body = admin.get("/v1/users/new1/recommendations", params={"k": 5}).json()
        assert body["model_version"] == va and body["variant"] == "control"
        text = admin.get("/metrics").text
        assert _metric(text, "prismrec_model_swaps_total") == 2.0
        assert "prismrec_ab_lists{" not in text  # no A/B test: no per-variant series


def test_a_bad_directory_is_refused_and_nothing_changes(a_and_b: dict[str, Any]) -> None:
    server = a_and_b["server"]
    work: Path = a_and_b["work"]
    broken = work / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "model.json").write_text("{}")
    with server.client() as admin:
        before = admin.get("/v1/admin/model").json()
        failed = _metric(admin.get("/metrics").text, "prismrec_model_load_failures_total")
        cases = {
            str(work / "nope"): "no such directory",
            str(work / "live"): "no model.json",
            str(broken): "could not be served",
        }
        cases["x" * 300] = "not a usable path"  # the file system refuses so long a name
        cases["a\x00b"] = "not a usable path"
        for path, why in cases.items():
            r = admin.post("/v1/admin/model", json={"path": path})
            assert r.status_code == 422, r.text
            assert why in r.json()["detail"] and r.json()["detail"].startswith("body.path: ")
            named = repr(path)[1:40]  # a NUL byte is shown escaped
            assert named in str(admin.get("/v1/admin/model").json()["last_error"])
        assert "ConfigError" in admin.post("/v1/admin/model", json={"path": str(broken)}).text
        for bad in ({}, {"path": ""}, {"path": 3}, {"path": "x", "other": 1}):
            assert admin.post("/v1/admin/model", json=bad).status_code == 422
        after = admin.get("/v1/admin/model").json()
        assert after["version"] == before["version"] and after["swaps"] == before["swaps"]
        text = admin.get("/metrics").text
        assert _metric(text, "prismrec_model_load_failures_total") == failed + 6
        ok = admin.get("/v1/users/new1/recommendations", params={"k": 3})
        assert ok.status_code == 200 and ok.json()["model_version"] == before["version"]
    with server.client("write") as writer:
        r = writer.post("/v1/admin/model", json={"path": str(a_and_b["b"])})
        assert r.status_code == 403
        assert writer.get("/v1/admin/model").status_code == 403


def test_the_new_model_recomputes_user_state_from_the_store(
    a_and_b: dict[str, Any], tmp_path: Path
) -> None:
    """Interests cached under A are not served under B: B derives them from the same events."""
    from fastapi.testclient import TestClient

    store = f"sqlite:{a_and_b['work'] / 'state.db'}"
    settings = ServeSettings(model_dir=a_and_b["a"], store=store, auth=False, model_sync_s=0)
    reference = Service(settings.model_copy(update={"model_dir": a_and_b["b"]})).start()
    try:
        with TestClient(create_app(settings)) as client:
            ids_only = {"fields": "none"}
            under_a = client.get("/v1/users/new1/interests", params=ids_only).json()
            assert client.post("/v1/admin/model", json={"path": str(a_and_b["b"])}).is_success
            under_b = client.get("/v1/users/new1/interests", params=ids_only).json()
            assert under_b == reference.interests("new1")
            assert under_b != under_a
            back = client.post("/v1/admin/model/rollback").json()
            assert back["version"] == _version(a_and_b["a"])
            assert client.get("/v1/users/new1/interests", params=ids_only).json() == under_a
    finally:
        reference.close()


def test_one_load_at_a_time_and_nothing_to_roll_back(a_and_b: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from prismrec.serving.http.appstate import app_state

    store = f"sqlite:{a_and_b['work'] / 'state.db'}"
    settings = ServeSettings(model_dir=a_and_b["a"], store=store, auth=False, model_sync_s=0)
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.post("/v1/admin/model/rollback")
        assert r.status_code == 409 and "no previous model" in r.json()["detail"]
        holder = app_state(app).holder
        assert holder is not None
        gate = threading.Event()

        def slow_loader(s: ServeSettings, path: Path) -> Service:
            gate.wait(30)
            return Service(s.model_copy(update={"model_dir": path})).start()

        holder.loader = slow_loader
        r = client.post("/v1/admin/model", json={"path": str(a_and_b["b"]), "wait": False})
        assert r.status_code == 202
        assert client.get("/v1/admin/model").json()["loading"]["path"] == str(a_and_b["b"])
        busy = client.post("/v1/admin/model", json={"path": str(a_and_b["a"])})
        assert busy.status_code == 409 and "in progress" in busy.json()["detail"]
        gate.set()
        deadline = time.monotonic() + 60
        while client.get("/v1/admin/model").json()["loading"] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get("/v1/admin/model").json()["version"] == _version(a_and_b["b"])


def test_replicas_on_one_redis_end_on_the_same_version(
    a_and_b: dict[str, Any],
    redis_url: str,
    tmp_path: Path,
    wait_until: Callable[..., bool],
    start_api: Callable[..., Any],
) -> None:
    va, vb = _version(a_and_b["a"]), _version(a_and_b["b"])
    first = start_api(a_and_b["a"], redis_url, tmp_path, extra=("--no-auth",))
    second = start_api(a_and_b["a"], redis_url, tmp_path, keys=first.keys, extra=("--no-auth",))
    try:
        one, two = first.client(), second.client()

        def serving(c: httpx.Client) -> str:
            return str(c.get("/v1/admin/model").json()["version"])

        assert serving(one) == serving(two) == va
        swapped = one.post("/v1/admin/model", json={"path": str(a_and_b["b"])})
        assert swapped.status_code == 200 and swapped.json()["replicas"] == "told"
        assert serving(one) == vb
        assert wait_until(lambda: serving(two) == vb, 120), "the second replica did not follow"
        assert two.get("/v1/users/new1/recommendations").json()["model_version"] == vb
        # a rollback sent to the other replica: both back on A
        assert two.post("/v1/admin/model/rollback").json()["version"] == va
        assert wait_until(lambda: serving(one) == va, 120), "the first replica did not follow"
        one.close()
        two.close()
    finally:
        first.stop()
        second.stop()


def test_serve_follows_a_watched_current_link(
    a_and_b: dict[str, Any],
    tmp_path: Path,
    wait_until: Callable[..., bool],
    start_api: Callable[..., Any],
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    set_current(models, a_and_b["a"])
    store = f"sqlite:{tmp_path / 's.db'}"
    server = start_api(a_and_b["a"], store, tmp_path, extra=("--watch", str(models)))
    try:
        with server.client() as c:
            assert c.get("/v1/admin/model").json()["watch"] == str(models)
            set_current(models, a_and_b["b"])
            vb = _version(a_and_b["b"])
            assert wait_until(lambda: c.get("/v1/admin/model").json()["version"] == vb, 120)
    finally:
        server.stop()


def test_watch_without_a_current_link_is_a_one_line_error(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "prismrec"
    r = subprocess.run(
        [str(exe), "serve", "--watch", str(tmp_path), "--store", f"sqlite:{tmp_path / 's.db'}"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no 'current' link" in r.stderr
