"""The service without HTTP: features, cold-start prior, caches, quantisation, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prismrec.cli.main import app as cli
from prismrec.data.vocab import Vocabulary
from prismrec.evaluation.beyond import category_bags
from prismrec.retrieval import FaissIndex
from prismrec.retrieval.pipeline import Request
from prismrec.serving.engine import Featurizer, InterestEncoder, concat, quantize_int8
from prismrec.serving.engine.catalog import LiveCatalog, check_item_fields
from prismrec.serving.engine.coldstart import PopularityPrior
from prismrec.serving.engine.service import Service
from prismrec.serving.settings import ServeSettings
from prismrec.serving.state.store import Event, StoredEvent


def test_featurizer_reproduces_training_time_features() -> None:
    events = Vocabulary(["click", "view"], offset=1, name="event type")
    ctx = {"device": Vocabulary(["mobile", "tv"], offset=1, name="device")}
    f = Featurizer(
        ("event_idx", "hour", "weekday", "gap_bucket", "ctx_device"), events, ctx, [0, 60, 3600]
    )
    t0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday
    stored = [
        StoredEvent(1, "u", "a", "view", t0, {"device": "tv"}),
        StoredEvent(2, "u", "zzz", "click", t0 + 10),  # unknown item: skipped
        StoredEvent(3, "u", "b", "click", t0 + 30, {"device": "phone"}),
        StoredEvent(4, "u", "a", "buy", t0 + 7200),
    ]
    out = f.features(stored, lambda i: {"a": 1, "b": 2}.get(i, 0))
    assert out["item_idx"].tolist() == [1, 2, 1]
    assert out["event_idx"].tolist() == [2, 1, 0]  # unknown type -> 0
    assert out["hour"].tolist() == [23, 23, 1]  # hour + 1
    assert out["weekday"].tolist() == [2, 2, 3]  # ISO weekday, as polars
    # gaps 30 s -> bucket of 60 (2), 7170 s -> beyond 3600 (4); the first has none (0)
    assert out["gap_bucket"].tolist() == [0, 2, 4]
    assert out["ctx_device"].tolist() == [2, 0, 0]
    base = {"item_idx": np.array([5, 6]), "hour": np.array([3, 4])}
    joined = concat(base, {"item_idx": np.array([1]), "hour": np.array([9])}, limit=2)
    assert joined["item_idx"].tolist() == [6, 1] and joined["hour"].tolist() == [4, 9]


def test_popularity_prior_lift_matches_a_hand_computation() -> None:
    # item 1: 6 events, 1 at hour code 5; item 2: 4 events, all at hour code 5
    histories = {
        0: {"item_idx": np.array([1, 1, 1, 2, 2]), "hour": np.array([5, 3, 3, 5, 5])},
        1: {"item_idx": np.array([1, 1, 1, 2, 2]), "hour": np.array([3, 3, 3, 5, 5])},
    }
    prior = PopularityPrior(histories, {}, n_rows=3, smoothing=2.0)
    plain = prior.scores({})
    assert plain[1] > plain[2] and plain[0] == -math.inf
    lifted = prior.scores({"hour": 5})
    p1, p2 = (6 + 1e-3) / 10, (4 + 1e-3) / 10
    n, m = 5.0, 2.0
    assert lifted[1] == pytest.approx(math.log(p1) + math.log((1 + m * p1) / ((n + m) * p1)))
    assert lifted[2] == pytest.approx(math.log(p2) + math.log((4 + m * p2) / ((n + m) * p2)))
    assert lifted[2] > lifted[1]  # the hour's favourite overtakes the global one
    assert prior.scores({"hour": 99}).tolist() == plain.tolist()  # unknown segment: no change


def test_catalog_grows_and_removes_and_checks_fields() -> None:
    import polars as pl

    items = pl.DataFrame({"item_idx": [1, 2], "item_id": ["a", "b"], "genres": [["X"], ["Y", "X"]]})
    cat = LiveCatalog(items, {"text": ["title"], "multi": ["genres"]})
    assert cat.index("b") == 2
    # the evaluation's codes (one rule): most common first, each row's bag in code order
    bags, names = category_bags(items, "genres", True, 3)
    assert cat.metadata.category_names == names == ["X", "Y"]
    np.testing.assert_array_equal(cat.metadata.categories[:3, :2], bags)
    assert cat.metadata.categories[2, :2].tolist() == [1, 2]
    row, new = cat.upsert("c", {"genres": ["Z"]})
    assert (row, new) == (3, True) and cat.metadata.category_names[-1] == "Z"
    assert cat.upsert("a", {"genres": ["Z"]}) == (1, False)
    assert cat.remove("b") == 2 and not cat.is_live(2) and cat.remove("b") == 0 and len(cat) == 2
    assert check_item_fields({"title": "T", "genres": "X|Y"}, cat) == {
        "title": "T",
        "genres": ["X", "Y"],
    }
    for bad in ({"colour": 1}, {"title": ["x"]}, {"genres": [1]}, {}, [1]):
        with pytest.raises(Exception, match="item"):
            check_item_fields(bad, cat)


@pytest.fixture(scope="module")
def service(served_model: Path, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("svc") / "s.db"
    svc = Service(ServeSettings(model_dir=served_model, store=f"sqlite:{db}")).start()
    yield svc
    svc.close()


def test_cached_interests_are_reused_until_an_event_arrives(service: Service) -> None:
    service.recommend("u2", Request(k=5))
    hits = service.stats["cache_hits"]
    a = service.recommend("u2", Request(k=5))
    assert service.stats["cache_hits"] == hits + 1
    service.ingest([Event("u2", "m5", "click"), Event("u2", "m8", "click")])
    misses = service.stats["cache_misses"]
    b = service.recommend("u2", Request(k=5))
    assert service.stats["cache_misses"] == misses + 1
    assert a != b
    assert service.ingest([Event("u2", "unknown-item", "click")])["unknown_items"] == 1


def test_kept_work_is_counted_released_and_capped(service: Service, served_model: Path) -> None:
    budget = service.context_budget
    service.recommend("u3", Request(k=5))

    def kept() -> int:  # (a state the store moved on from is replaced here, its work released)
        return sum(service.state(u).context.nbytes for u in service.cached_users())

    assert (held := kept()) > 0 and budget.used == held
    service.ingest([Event("u3", "m5", "click")])
    service.recommend("u3", Request(k=5))  # the old state's work is released, the new one's kept
    assert (held := kept()) == budget.used
    service.delete_user("u3")
    assert "u3" not in service.cached_users() and (held := kept()) == budget.used
    # a budget of 0 MB: only the user just served stays cached, and the lists do not change
    db = served_model.parent / "capped.db"
    capped = Service(ServeSettings(model_dir=served_model, store=f"sqlite:{db}", context_mb=0))
    capped.start()
    try:
        for user in ("u1", "u4", "u5"):
            assert capped.recommend(user, Request(k=5)) == service.recommend(user, Request(k=5))
            assert capped.cached_users() == [user]
        assert capped.context_budget.used == capped.state("u5").context.nbytes > 0
    finally:
        capped.close()


def test_int8_interests_stay_close_to_float(service: Service) -> None:
    model = service.model
    fp = InterestEncoder(model)
    q = InterestEncoder(model, "int8")
    assert any("quantized" in type(m).__module__ for m in q.net.modules())
    for user in range(10):
        h = model.user_histories[user]
        a, b = fp.encode(h, user).vectors, q.encode(h, user).vectors
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos.min() > 0.98
    assert not any("quantized" in type(m).__module__ for m in model.net.modules())  # a copy
    assert quantize_int8(model.net) is not model.net


def test_serve_cli_rejects_bad_input_cleanly(tmp_path: Path, served_model: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--model", str(tmp_path)])
    assert r.exit_code == 1 and "not a model directory" in r.output
    r = runner.invoke(cli, ["serve", "--model", str(served_model), "--store", "postgres://x"])
    assert r.exit_code == 1 and "unsupported store URL" in r.output
    r = runner.invoke(cli, ["serve", "--model", str(served_model), "--quantize", "int4"])
    assert r.exit_code == 2 and "int4" in r.output
    r = runner.invoke(cli, ["serve", "--model", str(served_model), "--index-quantize", "int4"])
    assert r.exit_code == 2 and "int4" in r.output
    r = runner.invoke(cli, ["serve", "--model", str(served_model), "--index-quantize", "pq"])
    assert r.exit_code == 1 and "'pq' needs index 'ivf'" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_serve_refuses_a_model_without_interests(served_model: Path, tmp_path: Path) -> None:
    import json

    from prismrec.data.dataset import PreparedDataset
    from prismrec.training import ItemKNN

    data = json.loads((served_model / "model.json").read_text())["data_root"]
    knn = ItemKNN().fit(PreparedDataset.load(data)).save(tmp_path / "knn")
    r = CliRunner().invoke(
        cli, ["serve", "--model", str(knn), "--store", f"sqlite:{tmp_path}/s.db"]
    )
    assert r.exit_code == 1 and "needs a sequence model" in r.output


def test_a_built_index_is_cached_with_the_model_and_reloaded(served_model: Path, tmp_path: Path):
    def start(db: str) -> Service:
        settings = ServeSettings(model_dir=served_model, store=f"sqlite:{tmp_path / db}")
        return Service(settings.model_copy(update={"index": "hnsw"})).start()

    first = start("a.db")
    second = start("b.db")
    try:
        assert (first.index_source, second.index_source) == ("built", "cache")
        for user in ("u1", "u7", "u30"):
            assert first.recommend(user, Request(k=8)) == second.recommend(user, Request(k=8))
        # another search setting reuses the same build; another build setting does not
        third = Service(
            ServeSettings(model_dir=served_model, store=f"sqlite:{tmp_path / 'c.db'}", index="ivf")
        ).start()
        assert third.index_source == "built" and type(third.index).__name__ == "FaissIndex"
        third.close()
    finally:
        first.close()
        second.close()


def test_a_quantised_index_is_built_cached_and_serves(served_model: Path, tmp_path: Path):
    def start(db: str, quantize: str) -> Service:
        settings = ServeSettings(
            model_dir=served_model,
            store=f"sqlite:{tmp_path / db}",
            index="hnsw",
            index_quantize=quantize,  # type: ignore[arg-type]
        )
        return Service(settings).start()

    plain, first, second = start("p.db", "none"), start("a.db", "sq8"), start("b.db", "sq8")
    try:  # sq8 is another build (not the float32 cache), then cached in its turn
        assert (first.index_source, second.index_source) == ("built", "cache")
        assert isinstance(second.index, FaissIndex) and second.index.settings.quantize == "sq8"
        for user in ("u1", "u7", "u30"):
            got = first.recommend(user, Request(k=8))
            assert got == second.recommend(user, Request(k=8))
            # scores stay exact: the lists match the float32 index's on this small catalogue
            assert got == plain.recommend(user, Request(k=8))
    finally:
        for s in (plain, first, second):
            s.close()


class _RunsCode:
    """Unpickling this calls ``Path.touch(marker)``: what a hostile model file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_model_file_that_would_run_code_is_refused(served_model: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    from prismrec.errors import ConfigError

    hostile = tmp_path / "model"
    shutil.copytree(served_model, hostile)
    marker = tmp_path / "code-ran"
    inputs = torch.load(hostile / "item_inputs.pt", weights_only=True)  # plain tensors load
    torch.save({**inputs, "text": _RunsCode(marker)}, hostile / "item_inputs.pt")
    settings = ServeSettings(model_dir=hostile, store=f"sqlite:{tmp_path / 's.db'}")
    with pytest.raises(ConfigError, match="more than weights"):
        Service(settings).start()
    assert not marker.exists()


def test_a_light_user_of_a_dynamic_k_model_is_shown_only_their_interests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A model with ``dynamic_interests``: a new user with 2 events has one long-term interest
    (the others are ``active: false``, without label or items), recommendations carry no
    missing interest, and focusing one is refused; a heavy user has all of them."""
    from tests.serving.conftest import write_genre_world

    from prismrec.config import DataConfig, ModelConfig, TrainConfig
    from prismrec.data.dataset import prepare
    from prismrec.training import PrismRecommender

    base = tmp_path_factory.mktemp("dynamic")
    ds = prepare(write_genre_world(base / "raw"), base / "data", "csv", DataConfig(dedup=False))
    cfg = ModelConfig(
        embedding_dim=16, n_layers=1, n_interests=3, use_content=False, dynamic_interests=True
    )
    PrismRecommender(cfg, TrainConfig(epochs=2, batch_size=32)).fit(ds).save(base / "model")
    svc = Service(ServeSettings(model_dir=base / "model", store=f"sqlite:{base / 's.db'}"))
    svc.start()
    try:
        svc.ingest([Event("new", "m0", "click"), Event("new", "m3", "click")])
        got = svc.interests("new")["interests"]
        assert sum(it["active"] for it in got[:3]) == 1  # 2 events: one long-term interest
        assert got[-1]["term"] == "short" and got[-1]["active"]
        for it in got:
            if not it["active"]:
                assert it["weight"] == 0 and it["label"] is None and it["top_items"] == []
        absent = [i for i, it in enumerate(got) if not it["active"]]
        listed = svc.recommend("new", Request(k=5))["items"]
        assert len(listed) == 5 and not {o["interest"] for o in listed} & set(absent)
        with pytest.raises(ValueError, match="not among this user's interests"):
            svc.recommend("new", Request(k=5, focus=absent[0]))
        heavy = svc.interests("u1")["interests"]  # 14 events: 3 of 3
        assert all(it["active"] for it in heavy)
    finally:
        svc.close()
