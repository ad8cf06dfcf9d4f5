"""Backwards-compatible home of the ``[content]`` section; it lives in :mod:`prismrec.config`."""

from prismrec.config import DEFAULT_TEXT_MODEL as DEFAULT_MODEL
from prismrec.config import ContentConfig, load_content_config, read_toml
from prismrec.config import format_validation_error as _format

__all__ = ["DEFAULT_MODEL", "ContentConfig", "_format", "load_content_config", "read_toml"]
