"""Exact cosine neighbours and the ``content similar`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from prismrec.cli.content import app
from prismrec.content import (
    ContentConfig,
    TextEncoder,
    content_vectors,
    encode_dataset,
    load_item_features,
    nearest,
    similar_items,
)
from prismrec.errors import DataError, UnknownIdError


def test_nearest_is_exact_and_skips_self_padding_and_empty_rows() -> None:
    v = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1], [0, 0], [-1, 0]], dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    idx, scores = nearest(v, np.array([1, 3]), k=10)
    assert idx.shape == (2, 3)  # 4 rows with content, minus the query itself
    assert idx[0].tolist() == [2, 3, 5]
    assert scores[0, 0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert (np.diff(scores, axis=1) <= 0).all()
    small, _ = nearest(v, np.array([1, 3]), k=1, batch_size=1)
    assert small[:, 0].tolist() == idx[:, 0].tolist()


def test_content_vectors_average_modalities(make_prepared, make_encoder) -> None:
    ds = make_prepared(12)
    f = load_item_features(ds, ContentConfig(), encoder=make_encoder())
    v = content_vectors(f)
    assert v.shape == (13, 8 + 4)
    norms = np.linalg.norm(v, axis=1)
    assert norms[0] == 0 and np.allclose(norms[1:], 1, atol=1e-5)
    no_image = np.flatnonzero(~f.vector_masks["image"][1:]) + 1
    assert not v[no_image, 8:].any()  # missing image: only the text block


def test_no_content_at_all_is_a_clear_error(make_prepared, make_encoder) -> None:
    f = load_item_features(make_prepared(6), ContentConfig(), encoder=make_encoder())
    f.text, f.vectors, f.vector_masks = None, {}, {}
    with pytest.raises(DataError, match="neither a text field nor a vector"):
        content_vectors(f)


def test_similar_items_rejects_unknown_ids(make_prepared, make_encoder) -> None:
    ds = make_prepared(6)
    with pytest.raises(UnknownIdError, match="unknown item 'zzz'"):
        similar_items(ds, "zzz", 3, encoder=make_encoder())


def test_cli_similar_uses_the_cache_without_loading_the_model(
    make_prepared, make_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = make_prepared(12)
    # fill the cache under the real model's id: `similar` must not need the model at all
    encode_dataset(ds, ContentConfig(), encoder=make_encoder(TextEncoder().model_id))
    monkeypatch.setattr(TextEncoder, "load", lambda self: pytest.fail("the model was loaded"))
    result = CliRunner().invoke(
        app, ["similar", "--data", str(ds.root), "--item", "i0", "-k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["item_id"] == "i0" and len(out["neighbours"]) == 3
    assert set(out["neighbours"][0]) == {"item_id", "score"}
    assert "i0" not in [n["item_id"] for n in out["neighbours"]]
    table = CliRunner().invoke(app, ["similar", "--data", str(ds.root), "--item", "i0"])
    assert table.exit_code == 0 and "Movie number 0" in table.stdout
    bad = CliRunner().invoke(app, ["similar", "--data", str(ds.root), "--item", "nope"])
    assert bad.exit_code == 1 and "unknown item 'nope'" in bad.stderr
