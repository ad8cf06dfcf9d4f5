"""Embedding cache: hits, partial re-encoding, model separation, resumption, merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prismrec.content import ContentConfig, EmbeddingCache, encode_dataset, load_item_features
from prismrec.errors import DataError

TEXTS = [f"item text number {i}" for i in range(20)]


def test_second_run_encodes_nothing(tmp_path: Path, make_encoder) -> None:
    enc = make_encoder()
    first, s1 = EmbeddingCache(tmp_path).get_or_encode(TEXTS, enc)
    assert (s1.n_encoded, s1.n_cached) == (20, 0)
    assert enc.n_texts == 20
    again = make_encoder()
    second, s2 = EmbeddingCache(tmp_path).get_or_encode(TEXTS, again)  # a fresh process
    assert again.calls == []
    assert (s2.n_encoded, s2.n_cached) == (0, 20)
    np.testing.assert_allclose(first, second)
    np.testing.assert_allclose(first, enc.encode(TEXTS), atol=2e-3)  # float16 storage


def test_adding_items_encodes_only_the_new_ones(tmp_path: Path, make_encoder) -> None:
    EmbeddingCache(tmp_path).get_or_encode(TEXTS, make_encoder())
    enc = make_encoder()
    new = [f"a new item {i}" for i in range(10)]
    vectors, stats = EmbeddingCache(tmp_path).get_or_encode(TEXTS + new, enc)
    assert len(enc.calls) == 1 and sorted(enc.calls[0]) == sorted(new)
    assert stats.n_encoded == 10 and stats.n_cached == 20
    assert vectors.shape == (30, 8) and vectors.dtype == np.float32


def test_changed_text_is_reencoded(tmp_path: Path, make_encoder) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_encode(TEXTS, make_encoder())
    enc = make_encoder()
    changed = [*TEXTS[:-1], "the last item got a new description"]
    cache.get_or_encode(changed, enc)
    assert enc.calls == [["the last item got a new description"]]


def test_duplicates_are_encoded_once(tmp_path: Path, make_encoder) -> None:
    enc = make_encoder()
    vectors, stats = EmbeddingCache(tmp_path).get_or_encode(["a", "b", "a", "a"], enc)
    assert enc.calls == [["a", "b"]]
    assert stats.n_unique == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_cache_is_keyed_by_model_id(tmp_path: Path, make_encoder) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.get_or_encode(TEXTS, make_encoder("model-a"))
    other = make_encoder("model-b")
    cache.get_or_encode(TEXTS, other)
    assert other.n_texts == 20
    assert cache.directory("model-a") != cache.directory("model-b")
    assert cache.size("model-a") == cache.size("model-b") == 20


def test_float32_cache_is_exact_and_separate(tmp_path: Path, make_encoder) -> None:
    enc = make_encoder()
    vectors, _ = EmbeddingCache(tmp_path, dtype="float32").get_or_encode(TEXTS, enc)
    np.testing.assert_array_equal(vectors, enc.encode(TEXTS))
    half = EmbeddingCache(tmp_path, dtype="float16")
    assert half.directory("fake-model") != EmbeddingCache(tmp_path, "float32").directory(
        "fake-model"
    )
    assert half.size("fake-model") == 0


def test_interrupted_run_resumes(tmp_path: Path, make_encoder) -> None:
    class Flaky:
        model_id = "fake-model"

        def __init__(self) -> None:
            self.inner, self.chunks = make_encoder(), 0

        def encode(self, texts):
            self.chunks += 1
            if self.chunks == 3:
                raise KeyboardInterrupt
            return self.inner.encode(texts)

    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, chunk_size=4).get_or_encode(TEXTS, Flaky())
    enc = make_encoder()
    _, stats = EmbeddingCache(tmp_path, chunk_size=4).get_or_encode(TEXTS, enc)
    assert stats.n_cached == 8 and stats.n_encoded == 12


def test_shards_are_merged(tmp_path: Path, make_encoder) -> None:
    cache = EmbeddingCache(tmp_path, chunk_size=3, max_shards=2)
    for i in range(4):  # four small runs: one shard each, merged past max_shards
        cache.get_or_encode(TEXTS[i * 2 : i * 2 + 2], make_encoder())
    shards = list(cache.directory("fake-model").glob("part-*.npz"))
    assert len(shards) <= 2
    vectors, stats = EmbeddingCache(tmp_path).get_or_encode(TEXTS[:8], make_encoder())
    assert stats.n_encoded == 0
    np.testing.assert_allclose(vectors, make_encoder().encode(TEXTS[:8]), atol=2e-3)


def test_encoder_dimension_change_is_an_error(tmp_path: Path, make_encoder) -> None:
    EmbeddingCache(tmp_path).get_or_encode(TEXTS[:2], make_encoder(dim=8))
    with pytest.raises(DataError, match="8-dim vectors"):
        EmbeddingCache(tmp_path).get_or_encode(TEXTS[2:4], make_encoder(dim=16))


def test_dataset_encode_then_add_ten_items(tmp_path: Path, make_prepared, make_encoder) -> None:
    ds = make_prepared(30, tmp_path / "ds")
    enc = make_encoder()
    report = encode_dataset(ds, ContentConfig(), encoder=enc)
    assert enc.n_texts == 30 and report.text is not None
    assert (ds.root / "content" / "manifest.json").is_file()
    bigger = make_prepared(40, tmp_path / "ds")  # re-prepared with 10 more items, same dir
    enc2 = make_encoder()
    features = load_item_features(bigger, encoder=enc2)
    assert enc2.n_texts == 10
    assert features.text is not None and features.text.shape == (41, 8)
    assert features.text_mask[1:].all() and not features.text_mask[0]
