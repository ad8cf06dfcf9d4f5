"""A new item reaches the users whose interests it matches, over HTTP, before any event on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.serving.conftest import GENRES, ApiServer, write_genre_world


@pytest.fixture(scope="module", params=[0.0, 0.1], ids=["default", "fresh-slots"])
def fresh_api(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ApiServer]:
    """A prism model on 300 titled items in three genres (each with training events), served
    over HTTP: with the default settings, and with fresh-item slots (``fresh_share`` 0.1: 2
    of 20, among the best 3 * 20 = 60 items of a user, a fifth of the catalogue)."""
    from prismrec.config import DataConfig, ModelConfig, TrainConfig
    from prismrec.data.dataset import prepare
    from prismrec.training import PrismRecommender

    base = tmp_path_factory.mktemp("fresh")
    raw = write_genre_world(base / "raw", n_items=300, n_users=240)
    cfg = DataConfig(item_text_fields=["title"], item_multi_fields=["genres"], dedup=False)
    ds = prepare(raw, base / "data", "csv", cfg)
    model = ModelConfig(
        embedding_dim=32,
        n_layers=1,
        n_interests=2,
        id_dropout=0.3,
        fresh_share=request.param,
        fresh_depth=3,
    )
    rec = PrismRecommender(model, TrainConfig(epochs=8, batch_size=32, patience=8)).fit(ds)
    path = rec.save(base / "model")
    server = ApiServer(path, f"sqlite:{base / 'state.db'}", base).start()
    yield server
    server.stop()


def _fan(genre: str) -> str:
    return f"u{GENRES.index(genre)}"  # user u mostly watches GENRES[u % 3]


def test_a_new_item_reaches_the_users_it_suits_and_no_others(fresh_api: ApiServer) -> None:
    new = {"title": "funny laughs story number 9999", "genres": ["Comedy"]}
    with fresh_api.client("write") as c:
        before = c.get(f"/v1/users/{_fan('Comedy')}/recommendations", params={"k": 20}).json()
        assert "fresh-comedy" not in {x["item_id"] for x in before["items"]}
        assert c.put("/v1/items/fresh-comedy", json=new).status_code == 200
        for fan, wanted in ((_fan("Comedy"), True), (_fan("Action"), False)):
            got = c.get(f"/v1/users/{fan}/recommendations", params={"k": 20}).json()["items"]
            ids = [x["item_id"] for x in got]
            assert len(ids) == 20
            assert ("fresh-comedy" in ids) is wanted, (fan, ids)
            # items of the training catalogue are not new; the one put now is
            assert all(x["new"] is (x["item_id"] == "fresh-comedy") for x in got)
        # a request may ask for its own share (the same lists as a model with that share:
        # test_served_priors); out of [0, 1) it is refused
        url = f"/v1/users/{_fan('Comedy')}/recommendations"
        wide = c.get(url, params={"k": 20, "fresh_share": 0.5})
        assert wide.status_code == 200 and "fresh-comedy" in [
            x["item_id"] for x in wide.json()["items"]
        ]
        assert c.get(url, params={"k": 20, "fresh_share": 1.5}).status_code == 422
