"""Modality inputs: vocabularies, numeric normalisation, vector checks, missing modalities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from prismrec.content import (
    ContentConfig,
    FeatureSpec,
    attach_vector_files,
    build_item_features,
    fit_feature_spec,
    load_item_features,
)
from prismrec.data.schema import ItemFields
from prismrec.errors import ConfigError, DataError
from prismrec.models.fusion import ItemInputs, ItemTower

FIELDS = ItemFields(text=("title",), multi=("genres", "tags"), numeric=("year",), vector=("image",))


@pytest.fixture
def frame(tiny_catalogue) -> pl.DataFrame:
    df = tiny_catalogue(10)
    return df.with_columns(pl.int_range(1, df.height + 1).alias("item_idx"))


def test_spec_vocabularies_by_frequency_with_min_count(frame: pl.DataFrame) -> None:
    spec = fit_feature_spec(frame, FIELDS, ContentConfig(min_count=2))
    # genres over 10 items: Animation 4, Children 2, Drama 4, Comedy 2
    assert spec.categorical["genres"] == ["Animation", "Drama", "Children", "Comedy"]
    assert spec.categorical["tags"] == ["funny"]
    assert spec.vectors == {"image": 4}
    assert spec.text_template == "{title} ({year}). Genres: {genres}. Tags: {tags}"
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_features_align_rows_and_mark_missing_modalities(frame: pl.DataFrame) -> None:
    spec = fit_feature_spec(frame, FIELDS, ContentConfig(min_count=1))
    f = build_item_features(frame, spec)
    assert f.n_rows == 11 and f.item_ids[0] == "" and f.item_ids[1] == "i0"
    genres = f.categorical["genres"]
    assert genres.shape == (11, 2) and not genres[0].any()
    assert not genres[5].any()  # i4 has no genres: the bag is all padding
    assert f.numeric.shape == (11, 1)
    assert not f.numeric_mask[4, 0] and f.numeric[4, 0] == 0.0  # i3: year missing
    present = f.numeric[f.numeric_mask[:, 0], 0]
    assert abs(present.mean()) < 1e-5 and abs(present.std() - 1) < 1e-3
    img, mask = f.vectors["image"], f.vector_masks["image"]
    assert img.shape == (11, 4) and not mask[0] and not mask[2] and mask[1]
    assert not img[2].any()
    cov = f.coverage()
    assert cov["vec:image"] == pytest.approx(0.7) and cov["cat:tags"] == pytest.approx(0.4)


def test_stored_spec_maps_unseen_values_to_padding(frame: pl.DataFrame) -> None:
    spec = fit_feature_spec(frame, FIELDS, ContentConfig(min_count=1))
    new = pl.DataFrame(
        {
            "item_idx": [1],
            "item_id": ["new"],
            "title": ["A new film"],
            "year": [2030.0],
            "genres": [["Animation", "Noir"]],
            "tags": [[]],
            "image": [[0.0, 1.0, 0.0, 0.0]],
        }
    )
    f = build_item_features(new, spec)
    assert f.categorical["genres"][1].tolist() == [1]  # Animation kept, unseen Noir dropped
    mean, std = spec.numeric["year"]
    assert f.numeric[1, 0] == pytest.approx(min((2030 - mean) / std, 5.0))


def test_vector_dimension_mismatch_names_the_item(frame: pl.DataFrame) -> None:
    bad = frame.with_columns(
        pl.when(pl.col("item_id") == "i6")
        .then(pl.lit([1.0, 2.0]))
        .otherwise(pl.col("image"))
        .alias("image")
    )
    with pytest.raises(DataError, match=r"item 'i6' has a 2-dim vector but 4 dims"):
        fit_feature_spec(bad, FIELDS, ContentConfig())
    with pytest.raises(DataError, match=r"4-dim vector but 512 dims.*vector_dims"):
        fit_feature_spec(frame, FIELDS, ContentConfig(vector_dims={"image": 512}))
    spec = fit_feature_spec(frame, FIELDS, ContentConfig())
    wider = FeatureSpec(spec.categorical, spec.multi, spec.numeric, {"image": 8})
    with pytest.raises(DataError, match="8 dims are expected"):
        build_item_features(frame, wider)


def test_non_finite_vectors_are_rejected(frame: pl.DataFrame) -> None:
    bad = frame.with_columns(
        pl.when(pl.col("item_id") == "i2")
        .then(pl.lit([1.0, float("nan"), 0.0, 0.0]))
        .otherwise(pl.col("image"))
        .alias("image")
    )
    with pytest.raises(DataError, match="'i2' has NaN"):
        fit_feature_spec(bad, FIELDS, ContentConfig())


def test_vector_file_is_joined_by_item_id(frame: pl.DataFrame, tmp_path: Path) -> None:
    clip = tmp_path / "clip.parquet"
    pl.DataFrame(
        {"item_id": ["i0", "i3", "unknown"], "emb": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}
    ).write_parquet(clip)
    cfg = ContentConfig(vector_files={"clip": str(clip)}, min_count=1)
    joined, fields = attach_vector_files(frame, FIELDS, cfg)
    assert fields.vector == ("image", "clip")
    f = build_item_features(joined, fit_feature_spec(joined, fields, cfg))
    assert f.vector_masks["clip"].sum() == 2 and f.vectors["clip"].shape == (11, 2)
    with pytest.raises(ConfigError, match="not found"):
        attach_vector_files(frame, FIELDS, ContentConfig(vector_files={"x": "/no/file.parquet"}))
    with pytest.raises(ConfigError, match="already has a column"):
        attach_vector_files(frame, FIELDS, ContentConfig(vector_files={"image": str(clip)}))


def test_features_feed_the_item_tower(make_prepared, make_encoder) -> None:
    ds = make_prepared(12)
    f = load_item_features(ds, ContentConfig(min_count=1), encoder=make_encoder())
    spec_sizes = f.spec.tower_sizes(f.text.shape[1] if f.text is not None else None)
    tower = ItemTower(16, **spec_sizes, n_items=ds.n_items).eval()
    inputs = ItemInputs(**f.to_tensors())
    out = tower(inputs)
    assert out.shape == (13, 16) and torch.isfinite(out).all()
    batch = inputs.select(torch.tensor([3, 1]))
    assert torch.allclose(tower(batch), out[[3, 1]], atol=1e-6)
    assert np.isclose(f.coverage()["text"], 1.0)
