"""One exception hierarchy for everything prismrec raises on purpose.

The CLI catches :class:`PrismError` and prints its message without a traceback; anything else is
a bug.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "DataError",
    "NotTrainedError",
    "PrismError",
    "UnknownIdError",
    "hint_dirs",
    "nearby_dirs",
]


class PrismError(Exception):
    """Base class of all errors that prismrec raises deliberately."""


class DataError(PrismError):
    """Input data is missing, malformed or inconsistent.

    Attributes:
        problems: the row-level problems behind the error, when there are any.
    """

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ConfigError(PrismError):
    """A configuration file, option or flag has an invalid value."""


class NotTrainedError(PrismError):
    """A model or index was used before ``fit`` or ``load``."""


class ConflictError(PrismError):
    """The request conflicts with what the service is doing (a model load in progress, no
    previous model to roll back to)."""


class UnknownIdError(PrismError, KeyError):
    """An external user or item id is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def nearby_dirs(path: object, marker: str, limit: int = 5) -> list[str]:
    """Directories beside ``path`` (or inside it) that hold ``marker``: hints for a wrong path.

    ``nearby_dirs("runs/mls-prsm", "model.json")`` lists ``runs/*`` directories with a
    ``model.json``, so an error can say which model directories exist.
    """
    from pathlib import Path

    p = Path(str(path))
    found: list[str] = []
    for parent in (p, p.parent):
        if not parent.is_dir():
            continue
        try:
            children = sorted(parent.iterdir())
        except OSError:
            continue
        found += [str(c) for c in children if (c / marker).is_file() and str(c) not in found]
    return found[:limit]


def hint_dirs(path: object, marker: str, what: str) -> str:
    """``" (WHAT here: a, b)"`` from :func:`nearby_dirs`, or ``""`` when there are none."""
    dirs = nearby_dirs(path, marker)
    return f" ({what} nearby: {', '.join(dirs)})" if dirs else ""
