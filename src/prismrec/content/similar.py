"""Nearest items by content vector (exact cosine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from prismrec.content.config import ContentConfig
from prismrec.content.features import ItemFeatures, load_item_features
from prismrec.errors import DataError, UnknownIdError

if TYPE_CHECKING:
    from collections.abc import Callable

    from prismrec.content.cache import Encoder
    from prismrec.data.dataset import PreparedDataset

__all__ = ["Neighbour", "content_vectors", "nearest", "similar_items"]


@dataclass(frozen=True)
class Neighbour:
    """One similar item."""

    item_id: str
    score: float


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def content_vectors(features: ItemFeatures) -> np.ndarray:
    """One L2-normalised content vector per row: text and precomputed vectors, each normalised.

    With every block present, the cosine of two rows is the mean of the per-modality cosines.
    Rows with no content (and the padding row) are all zeros.

    Raises:
        DataError: the dataset has neither a text modality nor a vector column.
    """
    blocks = []
    if features.text is not None and features.text.shape[1] > 0:
        blocks.append(_unit(features.text.astype(np.float32)) * features.text_mask[:, None])
    for m, v in features.vectors.items():
        blocks.append(_unit(v) * features.vector_masks[m][:, None])
    if not blocks:
        raise DataError(
            "no content vectors: the items have neither a text field nor a vector "
            "column; set [content] text_template or add vector columns"
        )
    return _unit(np.concatenate(blocks, axis=1))


def nearest(
    vectors: np.ndarray, rows: np.ndarray, k: int, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours of ``rows`` among rows with content (self excluded).

    Args:
        vectors: (R, D) L2-normalised vectors; zero rows never appear as neighbours.
        rows: (Q,) query row indices.
        k: neighbours per query.
        batch_size: queries scored per matrix product (bounds memory at batch_size x R).

    Returns:
        (Q, k') neighbour rows and (Q, k') scores, best first, ``k' = min(k, candidates)``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    valid = np.linalg.norm(vectors, axis=1) > 0
    k = max(0, min(k, int(valid.sum()) - 1))
    out_idx = np.zeros((len(rows), k), dtype=np.int64)
    out_score = np.zeros((len(rows), k), dtype=np.float32)
    for s in range(0, len(rows), batch_size):
        q = rows[s : s + batch_size]
        scores = vectors[q] @ vectors.T  # (B, R)
        scores[:, ~valid] = -np.inf
        scores[np.arange(len(q)), q] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k else np.zeros((len(q), 0), int)
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        out_idx[s : s + len(q)] = np.take_along_axis(top, order, axis=1)
        out_score[s : s + len(q)] = np.take_along_axis(top_scores, order, axis=1)
    return out_idx, out_score


def similar_items(
    ds: PreparedDataset,
    item_id: str,
    k: int = 10,
    cfg: ContentConfig | None = None,
    *,
    encoder: Encoder | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Neighbour]:
    """The ``k`` items whose content is closest to ``item_id``'s.

    Uses the embedding cache that ``prismrec content encode`` filled (and its recorded config
    when ``cfg`` is ``None``); texts not cached yet are encoded first.

    Raises:
        UnknownIdError: ``item_id`` is not in the catalogue.
        DataError: the item has no content vector.
    """
    if item_id not in ds.item_vocab:
        some = ", ".join(repr(x) for x in ds.item_vocab.ids[:3])
        raise UnknownIdError(
            f"unknown item {item_id!r}: not in the catalogue of {ds.root} "
            f"(item ids look like {some})"
        )
    row = ds.item_vocab.index(item_id)
    features = load_item_features(ds, cfg, encoder=encoder, progress=progress)
    vectors = content_vectors(features)
    if not vectors[row].any():
        raise DataError(f"item {item_id!r} has no content (no text and no vectors) to compare")
    idx, scores = nearest(vectors, np.array([row]), k)
    return [
        Neighbour(features.item_ids[i], float(s)) for i, s in zip(idx[0], scores[0], strict=True)
    ]
