"""Service settings: :class:`~prismrec.config.ServeSettings`, re-exported for the serving layer.

Precedence (see :func:`prismrec.config.serve_settings`): command-line flags, then ``PRISMREC_*``
environment variables, then the config file's ``[serve]`` table, then the defaults.
"""

from __future__ import annotations

from functools import lru_cache

from prismrec.config import ServeSettings, serve_settings

__all__ = ["ServeSettings", "get_settings", "serve_settings"]


@lru_cache
def get_settings() -> ServeSettings:
    """Settings from the environment (``PRISMREC_MODEL_DIR`` ...), read once per process."""
    return ServeSettings()
