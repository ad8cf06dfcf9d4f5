"""Every configuration section, one loader and one override rule.

A config file is TOML with the tables ``[data]``, ``[content]``, ``[model]``, ``[train]`` and
``[serve]``. Every section is a frozen pydantic model with ``extra="forbid"``, so a misspelt key is
an error that names it. :func:`load_config` reads a file; :meth:`PrismConfig.with_overrides`
applies command-line values (``None`` means "not given"). Serving settings add the environment:
:func:`serve_settings` resolves flags > ``PRISMREC_*`` variables > ``[serve]`` > defaults.

A prepared dataset and a model directory store the config they were built with, so later steps
rebuild everything from the directory alone.
"""

# The sections live by concern in private modules (_data: [data] and [content]; _model;
# _train: [train] and [tune]; _serve; _loader: the whole file, TOML in and out; _base: the
# override rule). Import from here: it is their one public path.

from prismrec.config._base import format_validation_error
from prismrec.config._data import (
    DEFAULT_EVENT_WEIGHTS,
    DEFAULT_TEXT_MODEL,
    ContentConfig,
    DataConfig,
)
from prismrec.config._loader import (
    SECTIONS,
    PrismConfig,
    load_config,
    load_content_config,
    read_toml,
    serve_settings,
    to_toml,
    toml_value,
)
from prismrec.config._model import ModelConfig
from prismrec.config._serve import (
    EF_SEARCH,
    EXACT_BELOW,
    SEARCH_DEPTH,
    ServeConfig,
    ServeSettings,
)
from prismrec.config._train import PARAM_SECTIONS, SearchRange, TrainConfig, TuneConfig

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "DEFAULT_TEXT_MODEL",
    "EF_SEARCH",
    "EXACT_BELOW",
    "SEARCH_DEPTH",
    "SECTIONS",
    "ContentConfig",
    "DataConfig",
    "PARAM_SECTIONS",
    "ModelConfig",
    "PrismConfig",
    "SearchRange",
    "ServeConfig",
    "ServeSettings",
    "TrainConfig",
    "TuneConfig",
    "format_validation_error",
    "load_config",
    "load_content_config",
    "read_toml",
    "serve_settings",
    "to_toml",
    "toml_value",
]
