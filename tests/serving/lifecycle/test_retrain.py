"""Retraining from the live store, end to end: serve A, log events, export, warm-start B."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import prismrec as pr
from prismrec.data.dataset import PreparedDataset
from prismrec.retrieval.pipeline import Request
from prismrec.serving.engine.service import Service
from prismrec.serving.http.app import create_app
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state.store import Event
from prismrec.training.manifest import read_manifest

T0 = 1_800_000_000


@pytest.fixture(scope="module")
def retrained(served_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model A served on a real SQLite store; two new users, a new item, a deleted user, a
    removed item; then the store exported and B warm-started from A on it."""
    work = tmp_path_factory.mktemp("retrain")
    db = work / "state.db"
    svc = Service(ServeSettings(model_dir=served_model, store=f"sqlite:{db}")).start()
    try:
        svc.put_item("m_new", {"title": "explosive chase story brand new", "genres": ["Action"]})
        svc.delete_item("m1")
        events = []
        for n, user in enumerate(("new1", "new2")):
            for j, item in enumerate(("m0", "m_new", "m3", "m_new", "m6", "m9")):
                events.append(Event(user, item, "click", T0 + 100 * n + j))
        events.append(Event("u3", "m_new", "click", T0 + 50))  # a trained user's new event
        svc.ingest(events)
        svc.delete_user("u0")  # trained user: leaves a tombstone only
    finally:
        svc.close()
    data_dir = json.loads((served_model / "model.json").read_text())["data_root"]
    report = pr.export_store(f"sqlite:{db}", data_dir, work / "live")
    assert report.new_users == 2 and report.new_items == 1 and report.deleted_users == 1
    model = pr.train(work / "live", warm_start=served_model, out=work / "b", epochs=2)
    assert model.name == "prism"
    return {"a": served_model, "b": work / "b", "live": work / "live", "data": Path(data_dir)}


def test_export_keeps_rows_appends_new_ids_and_drops_the_deleted_user(
    retrained: dict[str, Path],
) -> None:
    old, new = PreparedDataset.load(retrained["data"]), PreparedDataset.load(retrained["live"])
    old_items = old.item_vocab.ids.tolist()
    assert new.item_vocab.ids.tolist()[: len(old_items)] == old_items
    assert new.item_vocab.ids.tolist()[len(old_items) :] == ["m_new"]
    users = new.user_vocab.ids.tolist()
    assert "u0" not in users and users[old.user_vocab.index("u0")] == "/deleted/0"
    kept = [u for u in old.user_vocab.ids.tolist() if u != "u0"]
    assert all(new.user_vocab.index(u) == old.user_vocab.index(u) for u in kept)
    assert users[-2:] == ["new1", "new2"]
    row0 = old.user_vocab.index("u0")
    assert new.frame.filter(new.frame["user_idx"] == row0).height == 0
    # u3's original events are unchanged and the live one follows them
    u3 = old.user_vocab.index("u3")
    before = old.frame.filter(old.frame["user_idx"] == u3).sort("pos")["item_idx"].to_list()
    after = new.frame.filter(new.frame["user_idx"] == u3).sort("pos")["item_idx"].to_list()
    assert after == [*before, new.item_vocab.index("m_new")]
    assert new.schema["extends"]["removed_items"] == ["m1"]
    assert new.frame.height == new.schema["n_events"] == old.frame.height - 14 + 13


def test_warm_started_model_knows_the_new_item_and_users(retrained: dict[str, Path]) -> None:
    b = pr.load(retrained["b"])
    assert "m_new" in b.ids.items and "new1" in b.ids.users and "u0" not in b.ids.users
    # new1 is a trained user of B now: their stored history is used
    recs = b.recommend_for(user_id="new1", k=5)
    assert len(recs) == 5
    # m_new has training events in B: an ID row of its own besides its content vector
    row = b.ids.items.index("m_new")
    rec = b.recommender
    assert int(rec.item_inputs["item_ids"][row]) == row  # type: ignore[attr-defined]
    table = rec.item_vectors()  # type: ignore[attr-defined]
    assert table.shape[0] == row + 1 and np.isfinite(table[row]).all()
    assert np.abs(table[row]).sum() > 0


def test_manifest_records_the_parent_version(retrained: dict[str, Path]) -> None:
    a, b = read_manifest(retrained["a"]), read_manifest(retrained["b"])
    assert a is not None and b is not None
    assert b.parent == a.version and a.parent is None and b.version != a.version
    assert b.model_type == "prism" and b.data_digest and b.data_digest != a.data_digest
    assert b.config["model"]["embedding_dim"] == 32  # A's own settings were reused
    assert "ndcg@10" in b.metrics["valid"]


def test_service_on_b_reports_its_version(retrained: dict[str, Path], tmp_path: Path) -> None:
    settings = ServeSettings(model_dir=retrained["b"], store=f"sqlite:{tmp_path / 's.db'}")
    svc = Service(settings).start()
    try:
        version = read_manifest(retrained["b"]).version  # type: ignore[union-attr]
        app = create_app(settings.model_copy(update={"auth": False}), svc)
        with TestClient(app) as client:
            body = client.get("/v1/users/new1/recommendations", params={"k": 5}).json()
            assert body["model_version"] == version and len(body["items"]) == 5
            cold = client.get("/v1/users/nobody/recommendations", params={"k": 3}).json()
            assert cold["model_version"] == version
            text = client.get("/metrics").text
        assert f'prismrec_model_info{{version="{version}"}} 1.0' in text
        age = [ln for ln in text.splitlines() if ln.startswith("prismrec_model_age_seconds ")]
        assert age and 0 <= float(age[0].split()[1]) < 3600
        assert svc.recommend("new2", Request(k=3))["items"]
    finally:
        svc.close()
