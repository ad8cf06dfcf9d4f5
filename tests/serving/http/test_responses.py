"""The response models describe the service's answers exactly: no key left out, none added,
no number rewritten (``3`` stays ``3``, not ``3.0``), absent fields stay absent.

A route writes ``model.validate(answer)`` dumped with ``exclude_unset``; here each answer is
checked with extra keys forbidden and its dump compared with the answer as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from prismrec.retrieval.pipeline import Request
from prismrec.serving.engine.browse import Browse
from prismrec.serving.engine.service import Service
from prismrec.serving.http import responses as r
from prismrec.serving.http import responses_model as rm
from prismrec.serving.http.routes import with_fields
from prismrec.serving.lifecycle.hotswap import ServiceHolder
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state.store import Event

pytestmark = pytest.mark.integration


def exact(model: Any, answer: dict[str, Any]) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    value = adapter.validate_python(answer, extra="forbid")
    written = json.loads(adapter.dump_json(value, exclude_unset=True))
    assert json.dumps(written, sort_keys=True) == json.dumps(answer, sort_keys=True)


@pytest.fixture(scope="module")
def service(served_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    work = tmp_path_factory.mktemp("responses")
    settings = ServeSettings(model_dir=served_model, store=f"sqlite:{work / 'state.db'}")
    svc = Service(settings).start()
    yield svc
    svc.close()


def shown(service: Service, answer: dict[str, Any], fields: list[str] | None = None) -> Any:
    return with_fields(answer, service, service.catalog.display.resolve(fields))


def test_recommendations_interests_and_similar_items(service: Service) -> None:
    served = {"model_version": service.model_info.version, "variant": "control"}
    for user, explain, fields in (("u1", True, None), ("u2", False, ["none"]), ("nobody", 0, None)):
        out = service.recommend(user, Request(k=5, explain=bool(explain)), {"device": "x"})
        exact(r.Recommendations, shown(service, {**out, **served}, fields))
    for fields in (None, ["none"], ["all"]):
        exact(r.Interests, shown(service, service.interests("u1"), fields))
        exact(r.SimilarItems, shown(service, service.similar("m3", 4), fields))


def test_events_items_users_and_erasure(service: Service) -> None:
    exact(r.EventsAck, service.ingest([Event("live1", "m1", "click", 1_800_000_000)]))
    exact(r.ItemPut, service.put_item("new-1", {"title": "funny laughs", "genres": ["Comedy"]}))
    exact(r.ItemDeleted, service.delete_item("new-1"))
    exact(r.UserDeleted, service.delete_user("live1"))
    exact(r.Erasure, service.erasure_status())


def test_browse_answers(service: Service, tmp_path: Path) -> None:
    service.ingest([Event("u3", "m2", "click", 1_800_000_000, {"device": "tv"})])
    report = tmp_path / "report"
    report.mkdir()
    metrics = {"model": "prism", "n_users": 60, "recall@10": 0.5, "hits@10": 3, "ci": {}}
    (report / "metrics.json").write_text(json.dumps(metrics))
    browse = Browse(service, report)
    exact(r.Users, browse.users("u", 5))
    for fields in (None, ["none"]):
        exact(r.History, shown(service, browse.history("u3", 20), fields))
        exact(r.ItemSearch, shown(service, browse.search("funny", 3), fields))
    exact(r.Item, browse.item("m4"))
    exact(rm.ModelRecord, browse.model())
    exact(rm.ModelRecord, Browse(service).model())  # no report


def test_model_status(service: Service) -> None:
    holder = ServiceHolder(service.settings, service)
    try:
        exact(rm.ModelStatus, holder.status())
        holder.loading = {"path": "/elsewhere", "since": 1.5}
        exact(rm.ModelStatus, holder.status())
    finally:
        holder.close(keep=service)
