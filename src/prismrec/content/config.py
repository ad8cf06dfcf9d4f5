"""The ``[content]`` configuration section, re-exported from :mod:`prismrec.config`."""

from prismrec.config import DEFAULT_TEXT_MODEL as DEFAULT_MODEL
from prismrec.config import ContentConfig, load_content_config

__all__ = ["DEFAULT_MODEL", "ContentConfig", "load_content_config"]
