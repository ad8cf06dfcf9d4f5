"""External id <-> contiguous int, the only place where external ids meet tensors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from prismrec.errors import UnknownIdError

__all__ = ["Vocabulary"]


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
