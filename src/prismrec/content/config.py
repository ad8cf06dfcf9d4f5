"""The ``[content]`` configuration section (defined beside the other sections in
:mod:`prismrec.config`, so the data layer can load a whole config without importing content)."""

from prismrec._content_config import DEFAULT_MODEL, ContentConfig, load_content_config

__all__ = ["DEFAULT_MODEL", "ContentConfig", "load_content_config"]
