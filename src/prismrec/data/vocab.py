"""External id <-> contiguous int, the only place where external ids meet tensors.

:class:`Vocabulary` maps one kind of id; :class:`IdMaps` holds a dataset's or a model's users and
items and is what the Python API, the CLI and the HTTP service use to turn requests in external
ids into rows and ranked rows back into ``{"item_id", "score"}`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prismrec.errors import UnknownIdError

__all__ = ["IdMaps", "Vocabulary", "scored_items"]


class Vocabulary:
    """Maps external string ids to ints ``offset .. offset+len-1``.

    Items use ``offset=1`` so index 0 is free for padding; users use ``offset=0``.
    """

    def __init__(self, ids: Sequence[str], offset: int = 0, name: str = "id") -> None:
        self.ids = np.asarray(list(ids), dtype=object)
        self.offset = offset
        self.name = name
        self._index = {str(v): i + offset for i, v in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise ValueError(f"duplicate ids in {name} vocabulary")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def size(self) -> int:
        """Number of slots an embedding table needs (ids plus the reserved offset)."""
        return len(self.ids) + self.offset

    def __contains__(self, external: object) -> bool:
        return str(external) in self._index

    def index(self, external: str) -> int:
        """Internal index of one external id; raises :class:`UnknownIdError`."""
        try:
            return self._index[str(external)]
        except KeyError:
            raise UnknownIdError(f"unknown {self.name} {external!r}") from None

    def lookup(self, externals: Iterable[str], missing: int = -1) -> np.ndarray:
        """Internal indices for many ids; unknown ids become ``missing``."""
        get = self._index.get
        return np.fromiter((get(str(e), missing) for e in externals), dtype=np.int64)

    def external(self, idx: Iterable[int] | np.ndarray) -> list[str]:
        """External ids of internal indices."""
        arr = np.asarray(idx, dtype=np.int64) - self.offset
        return [str(x) for x in self.ids[arr]]

    def to_frame(self, idx_col: str, id_col: str) -> pl.DataFrame:
        return pl.DataFrame(
            {
                idx_col: np.arange(self.offset, self.offset + len(self.ids), dtype=np.int32),
                id_col: [str(x) for x in self.ids],
            }
        )

    def save(self, path: Path) -> None:
        self.to_frame("idx", "id").write_parquet(path)

    @classmethod
    def load(cls, path: Path, offset: int, name: str) -> Vocabulary:
        df = pl.read_parquet(path).sort("idx")
        return cls(df.get_column("id").to_list(), offset=offset, name=name)


def scored_items(item_ids: Sequence[str], scores: Iterable[float]) -> list[dict[str, Any]]:
    """``[{"item_id", "score"}]`` in list order, scores rounded to 6 decimals."""
    return [
        {"item_id": i, "score": round(float(s), 6)} for i, s in zip(item_ids, scores, strict=True)
    ]


class IdMaps:
    """The external ids of a prepared dataset or a model directory.

    Users are rows ``0..U-1`` (``-1``: not seen in training), items rows ``1..N`` (0 is padding).

    Args:
        users: the user vocabulary (``offset=0``).
        items: the item vocabulary (``offset=1``).
    """

    def __init__(self, users: Vocabulary, items: Vocabulary) -> None:
        self.users = users
        self.items = items

    @classmethod
    def from_dir(cls, root: str | Path) -> IdMaps:
        """Read ``items.parquet`` and ``vocab/users.parquet`` of a dataset or model directory."""
        r = Path(root)
        items = pl.read_parquet(r / "items.parquet", columns=["item_idx", "item_id"])
        ids = items.sort("item_idx").get_column("item_id").cast(pl.String).to_list()
        users = Vocabulary.load(r / "vocab" / "users.parquet", 0, "user")
        return cls(users, Vocabulary(ids, offset=1, name="item"))

    def user_row(self, user_id: str | None) -> int:
        """The user's row, or ``-1`` for ``None`` and users not seen in training."""
        if user_id is None or user_id not in self.users:
            return -1
        return self.users.index(user_id)

    def item_rows(self, item_ids: Sequence[str], what: str = "history") -> np.ndarray:
        """Rows of known items, in order.

        Raises:
            UnknownIdError: naming the unknown ids (up to ten) and a few known ones.
        """
        rows = self.items.lookup(item_ids)
        unknown = [str(e) for e, r in zip(item_ids, rows, strict=True) if r < 0]
        if unknown:
            known = ", ".join(repr(str(x)) for x in self.items.ids[:3])
            raise UnknownIdError(
                f"unknown item id(s) in {what}: {', '.join(unknown[:10])} (not in the "
                f"training catalogue; its ids look like {known})"
            )
        return rows

    def ranked(self, rows: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """One ranked row of item rows and scores as ``[{"item_id", "score"}]``; slots with a
        score of ``-inf`` (nothing left to rank) are left out."""
        ok = scores > -np.inf
        return scored_items(self.items.external(rows[ok]), scores[ok])
