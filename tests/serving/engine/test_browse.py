"""Display fields on every item, and the read-only routes the web page uses (issue 16).

Against a real ``prismrec serve`` over the genre-world model (titled items in three genres).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def genre_of(item: str) -> str:
    return ("Action", "Comedy", "Drama")[int(item[1:]) % 3]


def events(user: str, items: list[str], t0: int = 1_800_000_000) -> dict:
    return {
        "events": [
            {"user_id": user, "item_id": i, "event_type": "click", "timestamp": t0 + 60 * n}
            for n, i in enumerate(items)
        ]
    }


def title_of(item: str) -> str:
    words = {"Action": "explosive chase", "Comedy": "funny laughs", "Drama": "tearful family"}
    return f"{words[genre_of(item)]} story number {item[1:]}"


def test_every_item_in_an_answer_carries_its_title_and_genres(api) -> None:
    with api.client("read") as c:
        rec = c.get("/v1/users/u1/recommendations", params={"k": 6, "explain": True}).json()
        assert len(rec["items"]) == 6
        for item in rec["items"]:
            assert item["fields"] == {
                "title": title_of(item["item_id"]),
                "genres": [genre_of(item["item_id"])],
            }
            for event in item["explanation"]["events"]:
                assert event["fields"]["title"] == title_of(event["item_id"])
        interests = c.get("/v1/users/u1/interests").json()["interests"]
        tops = [t for i in interests for t in i["top_items"]]
        assert tops and all(t["fields"]["title"] == title_of(t["item_id"]) for t in tops)
        similar = c.get("/v1/items/m4/similar", params={"k": 4}).json()["items"]
        assert all(s["fields"]["genres"] == [genre_of(s["item_id"])] for s in similar)


def test_fields_none_all_and_named(api) -> None:
    with api.client("read") as c:
        url = "/v1/users/u2/recommendations"
        bare = c.get(url, params={"k": 3, "fields": "none", "explain": True}).json()["items"]
        assert all("fields" not in i for i in bare)
        assert all("fields" not in e for i in bare for e in i["explanation"]["events"])
        only = c.get(url, params={"k": 3, "fields": "title"}).json()["items"]
        assert all(set(i["fields"]) == {"title"} for i in only)
        every = c.get("/v1/items/m4/similar", params={"k": 2, "fields": "all"}).json()["items"]
        assert all(set(i["fields"]) == {"title", "genres"} for i in every)
        top = c.get("/v1/users/u2/interests", params={"fields": "none"}).json()["interests"]
        assert all(set(t) == {"item_id"} for i in top for t in i["top_items"])
        bad = c.get(url, params={"fields": "title,price"})
        assert bad.status_code == 422
        assert "price" in bad.json()["detail"] and "title" in bad.json()["detail"]


def test_item_search_finds_titles_and_ids(api) -> None:
    with api.client("read") as c:
        found = c.get("/v1/items", params={"q": "FUNNY laughs", "limit": 50}).json()["items"]
        assert len(found) == 20  # the 20 comedies, whatever the case
        assert all(genre_of(i["item_id"]) == "Comedy" for i in found)
        by_number = c.get("/v1/items", params={"q": "number 4"}).json()["items"]
        assert {i["item_id"] for i in by_number} >= {"m4", "m40", "m41"}
        assert by_number[0]["item_id"] in {"m4", "m40", "m41", "m42", "m43", "m44"}
        assert c.get("/v1/items", params={"q": "m7"}).json()["items"][0]["item_id"] == "m7"
        assert c.get("/v1/items", params={"q": "no such title"}).json()["items"] == []
        assert c.get("/v1/items", params={"q": "   "}).json()["items"] == []
        assert c.get("/v1/items", params={"q": ""}).status_code == 422
        assert c.get("/v1/items", params={"q": "x", "limit": 0}).status_code == 422


def test_an_item_put_through_the_api_is_found_and_shown(api) -> None:
    with api.client("write") as c:
        body = {"title": "zany prank caper", "genres": ["Comedy"]}
        assert c.put("/v1/items/zany-1", json=body).status_code == 200
        found = c.get("/v1/items", params={"q": "zany prank"}).json()["items"]
        assert found == [{"item_id": "zany-1", "fields": body}]
        got = c.get("/v1/items/zany-1").json()
        assert got["fields"] == body and got["live"] is True and got["title_field"] == "title"
        assert c.delete("/v1/items/zany-1").status_code == 200
        assert c.get("/v1/items", params={"q": "zany prank"}).json()["items"] == []
        assert c.get("/v1/items/zany-1").json()["live"] is False  # still described, not served
        assert c.get("/v1/items/nope").status_code == 404


def test_history_is_newest_first_with_live_events_before_training(api) -> None:
    with api.client("write") as c:
        trained = c.get("/v1/users/u5/history", params={"limit": 100}).json()
        # 14 events each; the model directory keeps those before the held-out test event
        assert trained["n_training_events"] == 13 and trained["more"] is False
        first = trained["events"]
        assert len(first) == 13 and all(e["source"] == "training" for e in first)
        assert [e["events_ago"] for e in first] == list(range(13))
        assert all(e["event_type"] in {"click", "view"} for e in first)
        assert all(0 <= e["hour"] <= 23 and 1 <= e["weekday"] <= 7 for e in first)
        assert all(e["fields"]["title"] == title_of(e["item_id"]) for e in first)
        body = events("u5", ["m2", "m5"])
        body["events"][1]["context"] = {"device": "tv"}
        assert c.post("/v1/events", json=body).status_code == 200
        now = c.get("/v1/users/u5/history", params={"limit": 3}).json()
        assert [e["item_id"] for e in now["events"][:2]] == ["m5", "m2"]
        assert now["events"][0]["context"] == {"device": "tv"}
        assert now["events"][0]["timestamp"] == body["events"][1]["timestamp"]
        assert now["events"][2]["source"] == "training" and now["more"] is True
        assert c.get("/v1/users/nobody/history").status_code == 404
        assert c.get("/v1/users/u5/history", params={"limit": 0}).status_code == 422


def test_users_are_listed_by_prefix(api) -> None:
    with api.client("read") as c:
        out = c.get("/v1/users", params={"prefix": "u1", "limit": 5}).json()
        assert out["users"] == ["u1", "u10", "u11", "u12", "u13"]
        assert out["n_trained_users"] == 60
        assert c.get("/v1/users", params={"prefix": "zz"}).json()["users"] == []
        assert len(c.get("/v1/users").json()["users"]) == 20
    assert httpx.get(f"{api.url}/v1/users").status_code == 401  # like every /v1 read


def test_the_model_record_and_its_report(api_factory, served_model: Path, tmp_path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    payload = {
        "model": "prism",
        "ndcg@10": 0.25,
        "recall@10": 0.5,
        "n_users": 60,
        "protocol": {"split": "test", "ranking": "full", "n_users": 60},
        "ci": {"ndcg@10": [0.2, 0.3]},
    }
    (report / "metrics.json").write_text(json.dumps(payload))
    png = Path(__file__).resolve().parents[3] / "docs" / "images" / "evaluation-report.png"
    shutil.copy(png, report / "metrics.png")
    (report / "report.html").write_text("<html>report</html>")
    api = api_factory(extra=("--report", str(report)))
    with api.client("read") as c:
        m = c.get("/v1/model").json()
        assert m["name"] == "prism" and m["n_interests"] == 3 and m["n_items"] == 60
        assert {"click", "view"} <= set(m["event_types"])
        assert (m["title_field"], m["category_field"]) == ("title", "genres")
        assert len(m["history"]) >= 1 and "loss" in m["history"][0]
        r = m["report"]
        assert r["metrics"] == {"ndcg@10": 0.25, "recall@10": 0.5}
        assert r["headline"] == ["ndcg@10", "recall@10"] and r["figures"] == ["metrics.png"]
        assert r["protocol"].startswith("test split, full ranking")
        fig = c.get("/v1/model/report/metrics.png")
        assert fig.status_code == 200 and fig.headers["content-type"] == "image/png"
        assert fig.content == png.read_bytes()
        assert c.get("/v1/model/report/report.html").text == "<html>report</html>"
        for name in ("metrics.json", "..%2Fmodel.json", "nope.png"):
            assert c.get(f"/v1/model/report/{name}").status_code == 404


def test_a_model_without_a_report_says_how_to_write_one(api) -> None:
    with api.client("read") as c:
        assert c.get("/v1/model").json()["report"] is None
        r = c.get("/v1/model/report/metrics.png")
        assert r.status_code == 404 and "prismrec evaluate" in r.json()["detail"]


def test_the_page_and_the_docs_load_nothing_from_elsewhere(api) -> None:
    page = httpx.get(f"{api.url}/ui/")
    assert page.status_code == 200 and 'data-testid="api-key-input"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert httpx.get(f"{api.url}/", follow_redirects=False).headers["location"] == "/ui/"
    for path in ("/ui/js/app.js", "/ui/style.css"):
        assert httpx.get(f"{api.url}{path}").status_code == 200
    docs = httpx.get(f"{api.url}/docs").text
    assert "http://" not in docs.replace(api.url, "") and "https://" not in docs
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert httpx.get(f"{api.url}/docs-assets/swagger-ui-bundle.js").status_code == 200
