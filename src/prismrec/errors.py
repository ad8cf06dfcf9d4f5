"""One exception hierarchy for everything prismrec raises on purpose.

The CLI catches :class:`PrismError` and prints its message without a traceback; anything else is
a bug.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "NotTrainedError",
    "PrismError",
    "UnknownIdError",
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


class UnknownIdError(PrismError, KeyError):
    """An external user or item id is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
