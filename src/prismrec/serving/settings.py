"""Service settings: :class:`~prismrec.config.ServeSettings`, re-exported for the serving layer.

Precedence (see :func:`prismrec.config.serve_settings`): command-line flags, then ``PRISMREC_*``
environment variables, then the config file's ``[serve]`` table, then the defaults.
"""

from __future__ import annotations

from prismrec.config import ServeSettings, serve_settings

__all__ = ["ServeSettings", "serve_settings"]
