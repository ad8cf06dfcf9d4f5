"""``prismrec config show``: the effective configuration, every key of every section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import ConfigOpt, guard, print_json

__all__ = ["app"]

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)

SECTIONS = ("data", "content", "model", "train", "serve")


@app.command()
def show(
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL_DIR",
            help="a trained model directory: its stored data/model/train/content settings",
        ),
    ] = None,
    config: ConfigOpt = None,
    section: Annotated[
        str | None,
        typer.Option(help=f"print one section only: {', '.join(SECTIONS)}"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of TOML")] = False,
) -> None:
    """Print the configuration a command would run with, as TOML (a valid --config file).

    Sections come from --model (what the model was built with), else --config, else the
    defaults; [serve] resolves PRISMREC_* environment variables > --config > defaults.
    """
    import sys

    from prismrec.api import effective_config
    from prismrec.config import to_toml
    from prismrec.errors import ConfigError

    with guard():
        if section is not None and section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r}; use one of {', '.join(SECTIONS)}")
        sections = effective_config(model, config)
        if section is not None:
            sections = {section: sections[section]}
    if as_json:
        print_json(sections)
        return
    sys.stdout.write(to_toml(sections))
