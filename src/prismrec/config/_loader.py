"""The whole file: :class:`PrismConfig`, loading it from TOML, writing it back, and the
service's settings resolved over the file, the environment and the flags."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import EnvSettingsSource

from prismrec.config._base import Section, format_validation_error, overridden
from prismrec.config._data import ContentConfig, DataConfig
from prismrec.config._model import ModelConfig
from prismrec.config._serve import ServeConfig, ServeSettings
from prismrec.config._train import PARAM_SECTIONS, TrainConfig, TuneConfig
from prismrec.errors import ConfigError

__all__ = [
    "SECTIONS",
    "PrismConfig",
    "load_config",
    "load_content_config",
    "read_toml",
    "serve_settings",
    "to_toml",
    "toml_value",
]


class PrismConfig(Section):
    """The whole configuration file: one table per section."""

    data: DataConfig = Field(default_factory=DataConfig, description="raw data and preprocessing")
    content: ContentConfig = Field(default_factory=ContentConfig, description="item content")
    model: ModelConfig = Field(default_factory=ModelConfig, description="model hyper-parameters")
    train: TrainConfig = Field(default_factory=TrainConfig, description="the training loop")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="the HTTP service")
    tune: TuneConfig = Field(default_factory=TuneConfig, description="hyper-parameter search")

    def with_overrides(self, section: str, **values: Any) -> PrismConfig:
        """A copy with keys of one section replaced (``None`` values are not given) and checked.

        Only the keys set so far (in the file or by an earlier override) are carried over, so a
        model's own defaults still apply to every key nobody set.
        """
        new_section = overridden(getattr(self, section), section, values)
        return self.model_copy(update={section: new_section})

    def with_params(self, params: Mapping[str, Any]) -> PrismConfig:
        """A copy with model-building parameters applied, each to its ``PARAM_SECTIONS`` section.

        A key is ``section.key`` (a ``[tune] space`` name) or a bare key, sent to the first
        section that has it (``train(embedding_dim=32)``).

        Raises:
            ConfigError: a key no section has, or a value the section refuses.
        """
        by_section: dict[str, dict[str, Any]] = {s: {} for s in PARAM_SECTIONS}
        for name, value in params.items():
            section, dot, key = name.rpartition(".")
            if not dot:
                section = next((s for s, m in PARAM_SECTIONS.items() if key in m.model_fields), "")
            if section not in PARAM_SECTIONS or key not in PARAM_SECTIONS[section].model_fields:
                raise ConfigError(
                    f"unknown parameter {name!r}: not a [model] or [train] key "
                    "(see 'prismrec config show' for every key)"
                )
            by_section[section][key] = value
        cfg = self
        for section, values in by_section.items():
            if values:
                cfg = cfg.with_overrides(section, **values)
        return cfg


SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in PrismConfig.model_fields.items()
}


def serve_settings(config: str | Path | None = None, **flags: Any) -> ServeSettings:
    """Resolve the service's settings: flags > ``PRISMREC_*`` environment > ``[serve]`` > defaults.

    Args:
        config: a TOML config file whose ``[serve]`` table to read (``None``: no file).
        **flags: command-line values; ``None`` means the flag was not given.

    Raises:
        ConfigError: a bad value, naming where it came from (file, environment or flag).
    """
    file_values = load_config(config).serve.model_dump(exclude_unset=True) if config else {}
    env_values = EnvSettingsSource(ServeSettings)()
    try:
        ServeConfig(**env_values)
    except ValidationError as exc:
        msg = format_validation_error(exc, "the environment", key=lambda k: f"PRISMREC_{k.upper()}")
        raise ConfigError(msg) from None
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return ServeSettings(**{**file_values, **env_values, **given})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "the serve options")) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file; ``ConfigError`` when it is missing or not TOML."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {p} is a directory; pass a .toml file (--config FILE)")
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | Path | None) -> PrismConfig:
    """Load a TOML config; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or has unknown/invalid keys.
    """
    if path is None:
        return PrismConfig()
    p = Path(path)
    raw = read_toml(p)
    bad = [name for name, v in raw.items() if name in SECTIONS and not isinstance(v, dict)]
    if bad:
        raise ConfigError(f"{p}: '{bad[0]}' must be a table ([{bad[0]}]), got {raw[bad[0]]!r}")
    try:
        return PrismConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None


def load_content_config(path: str | Path | None) -> ContentConfig:
    """The ``[content]`` table of a config file (``load_config(path).content``)."""
    return load_config(path).content


def to_toml(sections: dict[str, dict[str, Any]]) -> str:
    """Render ``{section: {key: value}}`` as a TOML config file; ``None`` values (unset keys,
    which TOML cannot hold) become comments."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (not set)")
            else:
                lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def toml_value(v: Any) -> str:
    """One value in TOML syntax, as :func:`to_toml` writes it (the reference pages too)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):
        inner = ", ".join(f"{_toml_key(k)} = {toml_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(k: object) -> str:
    text = str(k)
    bare = text.replace("_", "").replace("-", "").isalnum() and text.isascii()
    return text if bare else toml_value(text)
