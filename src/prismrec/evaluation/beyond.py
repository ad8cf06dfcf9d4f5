"""Beyond-accuracy metrics over ranked lists: diversity, coverage, novelty, exposure, interests.

Every function reads an (n, K) array of item indices, best first, with ``-1`` in empty slots (a
masked or missing item), and per-item side information indexed by ``item_idx`` (row 0 is padding):

* category bags: (N+1, L) int codes ``1..C`` with ``0`` as padding, each row free of duplicates;
* vectors: (N+1, D) float content (or model) vectors; an all-zero row means "no vector";
* popularity: (N+1,) number of training users per item.

Per-user metrics return (n,) arrays; exposure metrics (catalogue coverage, Gini) are one number
for the whole set of lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from prismrec.data.schema import pick_category_field
from prismrec.evaluation.metrics import hit_matrix

if TYPE_CHECKING:
    from prismrec.data.dataset import PreparedDataset

__all__ = [
    "Catalog",
    "beyond_accuracy",
    "catalog_coverage",
    "catalog_from_dataset",
    "category_bags",
    "category_coverage",
    "category_diversity",
    "category_multi_hot",
    "category_similarity",
    "dataset_categories",
    "exposure_metrics",
    "facet_interests",
    "gini",
    "interest_coverage",
    "intra_list_diversity",
    "novelty",
    "pick_category_field",
    "target_categories",
]

_CHUNK_ELEMENTS = 8_000_000  # bound on the temporary arrays of one chunk of users


@dataclass
class Catalog:
    """Item side information for the beyond-accuracy metrics.

    Attributes:
        n_items: catalogue size N (items are ``1..N``).
        popularity: (N+1,) training users per item, for novelty; ``None`` skips novelty.
        n_users: users in the training data (the popularity denominator).
        categories: (N+1, L) category bags; ``None`` skips category metrics.
        category_names: name of code ``c`` at position ``c - 1``.
        category_field: the item column the categories come from.
        vectors: (N+1, D) item vectors for ILD; ``None``: ILD uses the categories.
        vectors_source: what the vectors are (e.g. ``"content"``), recorded with the metrics.
    """

    n_items: int
    popularity: np.ndarray | None = None
    n_users: int = 0
    categories: np.ndarray | None = None
    category_names: list[str] = field(default_factory=list)
    category_field: str | None = None
    vectors: np.ndarray | None = None
    vectors_source: str | None = None

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    def definitions(self) -> dict[str, str]:
        """How each beyond-accuracy metric was measured on this catalogue (for the reports)."""
        out: dict[str, str] = {}
        if self.vectors is not None:
            src = self.vectors_source or "item"
            out["ild"] = f"mean pairwise cosine distance (1 - cos, 0..2) of {src} vectors"
        elif self.categories is not None:
            out["ild"] = f"mean pairwise cosine distance of '{self.category_field}' sets"
        if self.categories is not None:
            out["ild_category"] = f"mean pairwise cosine distance of '{self.category_field}' sets"
            out["category_coverage"] = (
                f"distinct '{self.category_field}' values in the list / {self.n_categories}"
            )
        if self.popularity is not None:
            out["novelty"] = f"mean -log2(users(i) / {self.n_users}) over the list (bits)"
        out["catalog_coverage"] = f"distinct recommended items / {self.n_items}"
        out["gini"] = "Gini coefficient of item exposure counts over the catalogue"
        return out


def _step(per_user: int) -> int:
    """Users per chunk so one chunk's temporaries stay near ``_CHUNK_ELEMENTS`` elements."""
    return max(1, _CHUNK_ELEMENTS // max(per_user, 1))


def _mean_pairwise_distance(sim: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of ``1 - sim`` over ordered pairs of distinct valid slots; 0 with fewer than 2."""
    k = valid.shape[1]
    pair = valid[:, :, None] & valid[:, None, :] & ~np.eye(k, dtype=bool)
    n_pairs = pair.sum(axis=(1, 2))
    total = np.where(pair, 1.0 - sim, 0.0).sum(axis=(1, 2))
    return np.where(n_pairs > 0, total / np.maximum(n_pairs, 1), 0.0)


def intra_list_diversity(topk: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Mean pairwise cosine distance (1 - cos) of the top-k items' vectors, per user.

    Slots that are empty or whose item has an all-zero vector are left out; a list with fewer
    than two usable items has diversity 0.
    """
    ids = topk[:, :k]
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norm, out=np.zeros(vectors.shape, np.float64), where=norm > 0)
    has = norm[:, 0] > 0
    out = np.zeros(len(ids))
    step = _step(ids.shape[1] * (ids.shape[1] + vectors.shape[1]))
    for s in range(0, len(ids), step):
        b = ids[s : s + step]
        safe = np.clip(b, 0, None)
        valid = (b >= 0) & has[safe]
        v = unit[safe]  # (B, k, D)
        sim = np.einsum("bkd,bjd->bkj", v, v)
        out[s : s + len(b)] = _mean_pairwise_distance(sim, valid)
    return out


def category_similarity(bags: np.ndarray) -> np.ndarray:
    """(B, K, L) category bags -> (B, K, K) cosine ``|A∩B| / sqrt(|A||B|)`` of the sets.

    With one category per item: 1 for the same category, 0 for different ones; 0 when either
    item has none. What ``diversity@N`` and the category aggregation both count.
    """
    present = bags > 0
    same = bags[:, :, None, :, None] == bags[:, None, :, None, :]  # (B, K, K, L, L)
    inter = (same & present[:, :, None, :, None]).sum(axis=(3, 4))
    size = present.sum(axis=2).astype(np.float64)
    denom = np.sqrt(size[:, :, None] * size[:, None, :])
    return np.divide(inter, denom, out=np.zeros(denom.shape), where=denom > 0)


def category_diversity(topk: np.ndarray, categories: np.ndarray, k: int) -> np.ndarray:
    """ILD by categories: mean pairwise ``1 - |A∩B| / sqrt(|A||B|)`` of the items' category sets.

    With one category per item this is the share of item pairs in different categories.
    Items without a category are left out.
    """
    ids = topk[:, :k]
    width = categories.shape[1]
    out = np.zeros(len(ids))
    step = _step(ids.shape[1] ** 2 * width**2)
    for s in range(0, len(ids), step):
        b = ids[s : s + step]
        safe = np.clip(b, 0, None)
        bags = np.where((b >= 0)[:, :, None], categories[safe], 0)
        valid = np.asarray((bags > 0).any(axis=2))
        out[s : s + len(b)] = _mean_pairwise_distance(category_similarity(bags), valid)
    return out


def _list_codes(topk: np.ndarray, categories: np.ndarray, k: int) -> np.ndarray:
    """(n, k*L) category codes of each list (0 for empty slots and padding)."""
    ids = topk[:, :k]
    codes = np.where((ids >= 0)[:, :, None], categories[np.clip(ids, 0, None)], 0)
    return codes.reshape(len(ids), -1)


def category_coverage(
    topk: np.ndarray, categories: np.ndarray, n_categories: int, k: int
) -> np.ndarray:
    """Distinct categories in each user's top-k, divided by the number of categories."""
    codes = np.sort(_list_codes(topk, categories, k), axis=1)
    if codes.shape[1] == 0 or n_categories == 0:
        return np.zeros(len(codes))
    new = np.concatenate(
        [codes[:, :1] > 0, (codes[:, 1:] != codes[:, :-1]) & (codes[:, 1:] > 0)], 1
    )
    return new.sum(axis=1) / float(n_categories)


def target_categories(targets: Sequence[np.ndarray], categories: np.ndarray) -> list[np.ndarray]:
    """Per user, the distinct category codes of the held-out target items."""
    out = []
    for t in targets:
        c = categories[np.asarray(t, dtype=np.int64)].ravel()
        out.append(np.unique(c[c > 0]))
    return out


def facet_interests(
    user_ids: Sequence[str], facets: pl.DataFrame, category_names: Sequence[str]
) -> list[np.ndarray]:
    """Per user, the category codes of their planted facets (``user_id``, ``facet`` columns).

    Facets that are not a category name, and users without facets, give empty arrays.
    """
    code = {name: i + 1 for i, name in enumerate(category_names)}
    by_user: dict[str, list[int]] = {}
    for u, f in zip(
        facets.get_column("user_id").cast(pl.String).to_list(),
        facets.get_column("facet").cast(pl.String).to_list(),
        strict=True,
    ):
        if f in code:
            by_user.setdefault(u, []).append(code[f])
    return [np.unique(np.asarray(by_user.get(str(u), []), dtype=np.int64)) for u in user_ids]


def interest_coverage(
    topk: np.ndarray, categories: np.ndarray, interests: Sequence[np.ndarray], k: int
) -> np.ndarray:
    """Share of each user's interest categories present in the top-k; NaN without interests.

    ``interests`` holds per user the category codes that count as interests: the held-out
    targets' categories (:func:`target_categories`) or planted synthetic facets.
    """
    n = len(topk)
    sizes = np.fromiter((len(i) for i in interests), dtype=np.int64, count=n)
    width = max(1, int(sizes.max(initial=0)))
    wanted = np.full((n, width), -1, dtype=np.int64)
    for u, i in enumerate(interests):
        wanted[u, : len(i)] = i
    codes = _list_codes(topk, categories, k)
    found = hit_matrix(wanted, list(codes)).sum(axis=1)
    return np.where(sizes > 0, found / np.maximum(sizes, 1), np.nan)


def novelty(topk: np.ndarray, popularity: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Mean self-information ``-log2(users(i) / n_users)`` of the top-k items (bits), per user.

    An item no training user touched counts as touched once, so its novelty is finite.
    """
    ids = topk[:, :k]
    p = np.clip(np.maximum(popularity.astype(np.float64), 1.0) / max(n_users, 1), None, 1.0)
    info = -np.log2(p)
    valid = ids >= 0
    total = np.where(valid, info[np.clip(ids, 0, None)], 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def catalog_coverage(topk: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    ids = topk[:, :k]
    return float(len(np.unique(ids[ids > 0]))) / max(n_items, 1)


def gini(topk: np.ndarray, n_items: int, k: int) -> float:
    """Gini coefficient of how often each catalogue item appears in the top-k lists.

    0: every item is recommended equally often; ``(N-1)/N``: one item gets all the exposure.
    """
    ids = topk[:, :k]
    counts = np.bincount(ids[ids > 0], minlength=n_items + 1)[1 : n_items + 1].astype(np.float64)
    total = counts.sum()
    if total == 0 or n_items == 0:
        return 0.0
    x = np.sort(counts)
    rank = np.arange(1, n_items + 1)
    return float(((2 * rank - n_items - 1) * x).sum() / (n_items * total))


def exposure_metrics(topk: np.ndarray, ks: Sequence[int], n_items: int) -> dict[str, float]:
    """Catalogue coverage and Gini of exposure at every cut-off (one value per set of lists)."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"catalog_coverage@{k}"] = catalog_coverage(topk, n_items, k)
        out[f"gini@{k}"] = gini(topk, n_items, k)
    return out


def beyond_accuracy(
    topk: np.ndarray,
    ks: Sequence[int],
    catalog: Catalog,
    interests: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per-user beyond-accuracy arrays keyed like ``"ild@10"``.

    ``ild`` uses ``catalog.vectors`` when given, else the categories (then it equals
    ``ild_category``). Metrics whose side information is missing are left out.
    """
    out: dict[str, np.ndarray] = {}
    cats = catalog.categories
    for k in ks:
        by_cat = category_diversity(topk, cats, k) if cats is not None else None
        if catalog.vectors is not None:
            out[f"ild@{k}"] = intra_list_diversity(topk, catalog.vectors, k)
        elif by_cat is not None:
            out[f"ild@{k}"] = by_cat
        if cats is not None and by_cat is not None:
            out[f"ild_category@{k}"] = by_cat
            out[f"category_coverage@{k}"] = category_coverage(topk, cats, catalog.n_categories, k)
            if interests is not None:
                out[f"interest_coverage@{k}"] = interest_coverage(topk, cats, interests, k)
        if catalog.popularity is not None:
            out[f"novelty@{k}"] = novelty(topk, catalog.popularity, catalog.n_users, k)
    return out


# ----- side information from a prepared dataset -----------------------------------------------
def category_multi_hot(bags: np.ndarray, n_categories: int) -> np.ndarray:
    """(n, L) category codes (0 = padding) -> (n, C) float32 0/1 over codes 1..C."""
    hot = np.zeros((len(bags), n_categories + 1), dtype=np.float32)
    np.put_along_axis(hot, bags, 1.0, axis=1)
    return hot[:, 1:]


def category_bags(
    frame: pl.DataFrame, column: str, multi: bool, n_rows: int
) -> tuple[np.ndarray, list[str]]:
    """(n_rows, L) category codes per ``item_idx`` (0 = padding) and the names of codes 1..C.

    Codes are ordered by frequency (most common first), then by name, so they are stable.
    """
    df = frame.select("item_idx", pl.col(column).alias("value"))
    if multi:
        df = df.explode("value")
    df = (
        df.with_columns(pl.col("value").cast(pl.String).str.strip_chars())
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
        .unique(["item_idx", "value"])
    )
    counts = df.group_by("value").len().sort(["len", "value"], descending=[True, False])
    names = counts.get_column("value").to_list()
    codes = pl.DataFrame(
        {"value": names, "code": np.arange(1, len(names) + 1, dtype=np.int64)},
        schema={"value": pl.String, "code": pl.Int64},
    )
    long = (
        df.join(codes, on="value")
        .sort(["item_idx", "code"])
        .with_columns(pl.int_range(pl.len()).over("item_idx").alias("slot"))
    )
    slot = long.get_column("slot").to_numpy()
    bags = np.zeros((n_rows, int(slot.max()) + 1 if len(slot) else 1), dtype=np.int64)
    bags[long.get_column("item_idx").to_numpy(), slot] = long.get_column("code").to_numpy()
    return bags, names


def dataset_categories(ds: PreparedDataset) -> tuple[str, np.ndarray, list[str]] | None:
    """The category column of a dataset's items, its (N+1, L) bags and the code names.

    ``None`` when no item column names a category (:func:`pick_category_field`).
    """
    picked = pick_category_field(ds.item_fields, ds.items_frame.columns)
    if picked is None:
        return None
    bags, names = category_bags(ds.items_frame, picked[0], picked[1], ds.n_items + 1)
    return picked[0], bags, names


def catalog_from_dataset(
    ds: PreparedDataset,
    split: str,
    vectors: np.ndarray | None = None,
    vectors_source: str | None = None,
) -> Catalog:
    """Popularity (training users per item before ``split``), categories and optional vectors."""
    n = ds.n_items
    train = ds.split_frame(split)
    pop = train.group_by("item_idx").agg(pl.col("user_idx").n_unique().alias("users"))
    popularity = np.zeros(n + 1, dtype=np.int64)
    popularity[pop.get_column("item_idx").to_numpy()] = pop.get_column("users").to_numpy()
    found = dataset_categories(ds)
    col, bags, names = found if found is not None else (None, None, [])
    if vectors is not None and vectors.shape[0] != n + 1:
        raise ValueError(f"item vectors have {vectors.shape[0]} rows, expected {n + 1}")
    return Catalog(
        n_items=n,
        popularity=popularity,
        n_users=int(train.get_column("user_idx").n_unique()),
        categories=bags,
        category_names=names,
        category_field=col,
        vectors=vectors,
        vectors_source=vectors_source,
    )
