"""Datasets bundled with prismrec (package data).

``ml-latest-small.zip`` is the official MovieLens latest-small release, redistributed under its
own terms (see ``ml-latest-small-LICENSE.txt``: research use, no commercial use, cite Harper &
Konstan 2015).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED", "bundled_path"]

BUNDLED = {"ml-latest-small": "ml-latest-small.zip"}


def bundled_path(name: str) -> Path:
    """Filesystem path of a bundled dataset, e.g. ``bundled_path("ml-latest-small")``."""
    if name not in BUNDLED:
        from prismrec.errors import DataError

        raise DataError(f"no bundled dataset {name!r}; bundled: {', '.join(BUNDLED)}")
    return Path(str(resources.files(__name__).joinpath(BUNDLED[name])))
