"""End to end on ml-latest-small with the real MiniLM model: encode, warm cache, neighbours.

To stay within the suite's time budget on 2 cores the catalogue is a seeded sample of
``PRISMREC_CONTENT_TEST_ITEMS`` movies (default 2000, ``all`` for every movie) plus the Toy Story
trilogy; ``benchmarks/encode.py`` measures the full catalogue.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from prismrec.cli.content import app
from prismrec.content import content_vectors, load_item_features, nearest, read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TOY_STORY = ("1", "3114", "78499")
NO_GENRE = "(no genres listed)"


def _sample_movielens(zip_path: Path, out: Path, n: str, seed: int = 7) -> Path:
    """Write a movie sample (ratings and tags of those movies only) as a MovieLens folder."""
    with zipfile.ZipFile(zip_path) as z:

        def read(name: str) -> pl.DataFrame:
            return pl.read_csv(io.BytesIO(z.read(f"ml-latest-small/{name}")), infer_schema_length=0)

        movies, ratings, tags = read("movies.csv"), read("ratings.csv"), read("tags.csv")
    if n != "all":
        rest = movies.filter(~pl.col("movieId").is_in(TOY_STORY)).sample(int(n), seed=seed)
        movies = pl.concat([movies.filter(pl.col("movieId").is_in(TOY_STORY)), rest])
    keep = movies.get_column("movieId").to_list()
    out.mkdir(parents=True)
    movies.write_csv(out / "movies.csv")
    ratings.filter(pl.col("movieId").is_in(keep)).write_csv(out / "ratings.csv")
    tags.filter(pl.col("movieId").is_in(keep)).write_csv(out / "tags.csv")
    return out


@pytest.fixture(scope="module")
def mls(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A prepared ml-latest-small sample whose texts were encoded by ``content encode``."""
    from prismrec.data.dataset import PreparedDataset, prepare

    zip_path = data_dir / "ml-latest-small" / "ml-latest-small.zip"
    if not zip_path.is_file():
        pytest.fail(
            f"ml-latest-small not found at {zip_path}; put ml-latest-small.zip there or "
            "set PRISMREC_DATA_DIR to the folder holding ml-latest-small/",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("mls")
    n = os.environ.get("PRISMREC_CONTENT_TEST_ITEMS", "2000")
    prepare(_sample_movielens(zip_path, root / "raw", n), root / "prepared", "movielens-latest")
    result = CliRunner().invoke(app, ["encode", "--data", str(root / "prepared")])
    assert result.exit_code == 0, result.output
    return PreparedDataset.load(root / "prepared")


def _genres(ds) -> dict[int, set[str]]:
    return {
        idx: set(g) - {NO_GENRE}
        for idx, g in ds.items_frame.select("item_idx", "genres").iter_rows()
    }


def test_encode_recorded_and_warm_run_encodes_nothing(mls) -> None:
    record = read_manifest(mls.root / "content")
    assert record is not None and record["stats"]["n_encoded"] == mls.n_items
    assert record["text_template"] == "{title} ({year}). Genres: {genres}. Tags: {tags}"
    result = CliRunner().invoke(app, ["encode", "--data", str(mls.root)])
    assert result.exit_code == 0, result.output
    assert read_manifest(mls.root / "content")["stats"]["n_encoded"] == 0


def test_content_neighbours_share_genres_far_above_chance(mls) -> None:
    genres = _genres(mls)
    vectors = content_vectors(load_item_features(mls))
    rows = np.array([i for i, g in genres.items() if g])
    idx, _ = nearest(vectors, rows, 10)
    nn_rate = np.mean(
        [
            np.mean([bool(genres[q] & genres[j]) for j in nb if genres[j]])
            for q, nb in zip(rows, idx, strict=True)
        ]
    )
    rng = np.random.default_rng(0)
    a, b = rng.choice(rows, 20_000), rng.choice(rows, 20_000)
    random_rate = np.mean(
        [bool(genres[x] & genres[y]) for x, y in zip(a, b, strict=True) if x != y]
    )
    print(f"genre overlap: top-10 neighbours {nn_rate:.3f}, random pairs {random_rate:.3f}")
    assert nn_rate >= 0.8
    assert nn_rate >= 1.6 * random_rate


def test_toy_story_neighbours_are_animated_family_films(mls) -> None:
    result = CliRunner().invoke(
        app, ["similar", "--data", str(mls.root), "--item", "1", "-k", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["item_id"] == "1" and len(out["neighbours"]) == 5
    scores = [n["score"] for n in out["neighbours"]]
    assert scores == sorted(scores, reverse=True)
    ids = [n["item_id"] for n in out["neighbours"]]
    assert {"3114", "78499"} & set(ids)  # a sequel
    genres = dict(mls.items_frame.select("item_id", "genres").iter_rows())
    family = [i for i in ids if {"Animation", "Children"} & set(genres[i])]
    assert len(family) >= 4, [(i, genres[i]) for i in ids]
