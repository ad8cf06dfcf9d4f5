"""A/B over HTTP: two variants, stable assignment across requests and restarts, and per-variant
hit rates equal to a count by hand over a planted stream of lists and events."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import prismrec as pr
from prismrec.serving.lifecycle.ab import assign
from prismrec.training.manifest import read_manifest

SALT = "test-salt"
KEEP = 2  # lists kept per user: a third list pushes the first out
T0 = 1_800_000_000


@pytest.fixture(scope="module")
def candidate(served_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """B: one more epoch from A on A's own data (another version, same catalogue)."""
    data_dir = json.loads((served_model / "model.json").read_text())["data_root"]
    out = tmp_path_factory.mktemp("ab") / "b"
    pr.train(data_dir, warm_start=served_model, out=out, epochs=1)
    return out


def _version(model: Path) -> str:
    m = read_manifest(model)
    assert m is not None
    return m.version


class Tally:
    """The hit count by hand: every list served, and which a later event of its user hit."""

    def __init__(self) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = {}
        self.totals = {v: {"lists": 0, "hits": 0, "items": set()} for v in ("control", "candidate")}

    def served(self, user: str, variant: str, items: list[str]) -> None:
        kept = self.lists.setdefault(user, [])
        kept.append({"variant": variant, "items": set(items), "hit": False})
        del kept[:-KEEP]
        t = self.totals[variant]
        t["lists"] += 1  # type: ignore[operator]
        t["items"] |= set(items)  # type: ignore[operator]

    def event(self, user: str, item: str) -> None:
        for entry in self.lists.get(user, []):
            if not entry["hit"] and item in entry["items"]:
                entry["hit"] = True
                self.totals[entry["variant"]]["hits"] += 1  # type: ignore[operator]

    def forget(self, user: str) -> None:
        self.lists.pop(user, None)


@pytest.fixture
def ab_server(
    served_model: Path, candidate: Path, tmp_path: Path, start_api: Callable[..., Any]
) -> Iterator[Callable[[], Any]]:
    """Starts (and restarts) ``prismrec serve --candidate B`` on one SQLite store."""
    servers: list[Any] = []
    keys: dict[str, str] | None = None

    def start() -> Any:
        nonlocal keys
        extra = ("--candidate", str(candidate), "--candidate-share", "0.5")
        env = {"PRISMREC_AB_SALT": SALT, "PRISMREC_AB_LISTS": str(KEEP)}
        server = start_api(
            served_model, f"sqlite:{tmp_path / 'state.db'}", tmp_path, extra=extra, env=env,
            keys=keys,
        )  # fmt: skip
        keys = server.keys
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def _rec(c: httpx.Client, user: str, allow: list[str]) -> dict[str, Any]:
    params = {"k": len(allow), "allow": ",".join(allow), "filter_seen": "false", "fields": "none"}
    r = c.get(f"/v1/users/{user}/recommendations", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _gauges(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            variant = line.split('variant="')[1].split('"')[0]
            out[variant] = float(line.rsplit(" ", 1)[1])
    return out


def test_ab_routes_users_stably_and_counts_hits_as_by_hand(
    ab_server: Callable[[], Any], served_model: Path, candidate: Path, tmp_path: Path
) -> None:
    versions = {"control": _version(served_model), "candidate": _version(candidate)}
    users = [f"u{i}" for i in range(24)]
    expected = {u: assign(u, SALT, 0.5) for u in users}
    assert set(expected.values()) == {"control", "candidate"}
    tally = Tally()
    server = ab_server()
    c, w = server.client("read"), server.client("write")

    def serve(user: str, allow: list[str]) -> None:
        body = _rec(c, user, allow)
        assert body["variant"] == expected[user]
        assert body["model_version"] == versions[body["variant"]]
        items = [i["item_id"] for i in body["items"]]
        assert items and set(items) <= set(allow)
        tally.served(user, body["variant"], items)

    def event(user: str, item: str, n: int) -> None:
        e = {"user_id": user, "item_id": item, "event_type": "click", "timestamp": T0 + n}
        assert w.post("/v1/events", json={"events": [e]}).status_code == 200
        tally.event(user, item)

    # the planted stream: per user three lists (the first falls out of the last KEEP), then
    # events that hit, miss, hit a dropped list, or come before the list they name
    for n, user in enumerate(users):
        a, b, d = (f"m{(3 * n + j) % 60}" for j in (0, 20, 40))
        for allow in ([a], [b], [d, f"m{(3 * n + 1) % 60}"]):
            serve(user, allow)
        pattern = n % 4
        if pattern == 0:
            event(user, b, n)  # hits list 2
        elif pattern == 1:
            event(user, a, n)  # list 1 was dropped: no hit
        elif pattern == 2:
            event(user, d, n)  # hits list 3 ...
            event(user, d, n + 1)  # ... once
            event(user, b, n + 2)  # and list 2
        else:
            late = f"m{(3 * n + 2) % 60}"
            event(user, late, n)  # before any list holds it: no hit
            serve(user, [late])  # list 4 (list 2 drops out)
            event(user, late, n + 1)  # hits list 4
    # a deleted user's lists are forgotten
    gone = users[2]
    with server.client("admin") as admin:
        assert admin.delete(f"/v1/users/{gone}").status_code in (200, 202)
    tally.forget(gone)
    event(gone, f"m{(3 * 2 + 1) % 60}", 99)

    hand = {
        v: (int(t["lists"]), int(t["hits"]), len(t["items"]))  # type: ignore[arg-type]
        for v, t in tally.totals.items()
    }
    assert all(lists > 0 and 0 < hits < lists for lists, hits, _ in hand.values()), hand
    text = httpx.get(f"{server.url}/metrics").text
    assert _gauges(text, "prismrec_ab_lists") == {v: h[0] for v, h in hand.items()}
    assert _gauges(text, "prismrec_ab_hits") == {v: h[1] for v, h in hand.items()}
    rates = _gauges(text, "prismrec_ab_hit_rate")
    assert rates == pytest.approx({v: h[1] / h[0] for v, h in hand.items()})
    assert _gauges(text, "prismrec_ab_items_served") == {v: h[2] for v, h in hand.items()}
    assert _gauges(text, "prismrec_ab_coverage") == pytest.approx(
        {v: h[2] / 60 for v, h in hand.items()}
    )
    assert set(_gauges(text, "prismrec_ab_seconds_count")) == {"control", "candidate"}
    for v, version in versions.items():
        assert f'prismrec_ab_model_info{{variant="{v}",version="{version}"}} 1.0' in text
    with server.client("admin") as admin:  # the live page's view: the same counts, intervals
        ab = admin.get("/v1/admin/live").json()["ab"]
    assert ab["share"] == 0.5
    live = {row["variant"]: row for row in ab["variants"]}
    for v, (lists, hits, items) in hand.items():
        row = live[v]
        assert (row["lists"], row["hits"], row["items_served"]) == (lists, hits, items)
        assert row["version"] == versions[v]
        assert row["hit_rate"] == pytest.approx(hits / lists)
        assert row["ci_low"] < row["hit_rate"] < row["ci_high"]
    assert ab["diff_low"] < ab["diff"] < ab["diff_high"]

    # a restart: same variants, the counts kept in the store
    server.stop()
    server = ab_server()
    with server.client("read") as c2:
        for user in users[:8]:
            assert _rec(c2, user, ["m0"])["variant"] == expected[user]
            tally.served(user, expected[user], ["m0"])
    exe = Path(sys.executable).parent / "prismrec"
    out = subprocess.run(
        [str(exe), "ab", "report", "--store", server.store, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    by_variant = {r["variant"]: r for r in report["variants"]}
    for v, t in tally.totals.items():
        lists, hits = int(t["lists"]), int(t["hits"])  # type: ignore[call-overload]
        row = by_variant[v]
        assert (row["lists"], row["hits"]) == (lists, hits)
        assert row["hit_rate"] == pytest.approx(hits / lists)
        assert row["ci_low"] < hits / lists < row["ci_high"]
    rate = {v: r["hit_rate"] for v, r in by_variant.items()}
    assert report["diff"] == pytest.approx(rate["candidate"] - rate["control"])
    assert report["diff_low"] < report["diff"] < report["diff_high"]
    table = subprocess.run(
        [str(exe), "ab", "report", "--store", server.store], capture_output=True, text=True
    )
    assert table.returncode == 0 and "candidate - control" in table.stdout
    c.close()
    w.close()


def test_ab_report_needs_a_store(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "prismrec"
    r = subprocess.run(
        [str(exe), "ab", "report", "--store", f"sqlite:{tmp_path / 'none.db'}"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "no store at" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "none.db").exists()


def test_assignment_is_a_stable_share() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    got = [assign(u, "s", 0.1) for u in users]
    assert got == [assign(u, "s", 0.1) for u in users]
    share = got.count("candidate") / len(users)
    assert 0.09 < share < 0.11
    assert [assign(u, "s", 0.0) for u in users[:100]] == ["control"] * 100
    assert [assign(u, "s", 1.0) for u in users[:100]] == ["candidate"] * 100
    other = [assign(u, "another salt", 0.1) for u in users]
    assert other != got  # a new salt reassigns users


def test_bad_candidate_flags_are_one_line_errors(tmp_path: Path, served_model: Path) -> None:
    exe = Path(sys.executable).parent / "prismrec"
    store = ["--store", f"sqlite:{tmp_path / 's.db'}", "--model", str(served_model)]
    r = subprocess.run(
        [str(exe), "serve", *store, "--candidate", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "nope" in r.stderr and r.stderr.strip().count("\n") == 0
    r = subprocess.run(
        [str(exe), "serve", *store, "--candidate", str(served_model), "--candidate-share", "2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "candidate-share" in r.stderr


def test_the_ab_log_contract_on_both_stores(store_url: str) -> None:
    """Both backends count the same: trimming to the last ``keep`` lists, one hit per list,
    forgetting a user, totals and distinct items by variant."""
    from prismrec.serving.lifecycle import ABCounts, open_ablog

    log = open_ablog(store_url, keep=2)
    try:
        log.served("ann", "control", ["a", "b"])
        log.served("ann", "control", ["c"])
        log.served("ann", "candidate", ["d", "a"])  # the first list is pushed out
        log.served("bob", "candidate", ["a", "é/ü"])
        log.served("cy", "control", [])
        assert log.hits([("ann", "b")]) == 0  # only in the dropped list
        assert log.hits([("ann", "a"), ("ann", "a"), ("bob", "x")]) == 1
        assert log.hits([("ann", "a")]) == 0  # that list is hit already
        assert log.hits([("ann", "c"), ("bob", "é/ü"), ("dan", "a")]) == 2
        log.forget("bob")
        log.served("bob", "candidate", ["z"])
        assert log.hits([("bob", "a")]) == 0  # bob's earlier list is gone
        assert log.counts() == {
            "control": ABCounts(lists=3, hits=1, items=3),
            "candidate": ABCounts(lists=3, hits=2, items=4),
        }
    finally:
        log.close()
