"""The ``prismrec`` command line: thin commands over the library."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import typer

from prismrec import __version__, progress
from prismrec.cli import ab as ab_cmd
from prismrec.cli import compare as compare_cmd
from prismrec.cli import config_cmd
from prismrec.cli import content as content_cmd
from prismrec.cli import data as data_cmd
from prismrec.cli import interests as interests_cmd
from prismrec.cli import keys as keys_cmd
from prismrec.cli import model as model_cmd
from prismrec.cli import retrain as retrain_cmd
from prismrec.cli import serve as serve_cmd
from prismrec.cli import train as train_cmd
from prismrec.cli import tune as tune_cmd
from prismrec.cli._common import escape, fail
from prismrec.cli._group import OneLineErrors

app = typer.Typer(
    name="prismrec",
    help="prismrec: multi-interest, content-aware, real-time recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text prints as written: "[content]" stays, no markup parsing
    cls=OneLineErrors,
)
app.add_typer(data_cmd.app, name="data")
app.command()(train_cmd.train)
app.command()(model_cmd.recommend)
app.command()(model_cmd.evaluate)
app.command()(interests_cmd.interests)
app.command()(compare_cmd.compare)
app.command()(serve_cmd.serve)
app.command()(retrain_cmd.retrain)
app.command()(tune_cmd.tune)
app.add_typer(keys_cmd.app, name="keys", help="Create, list and revoke API keys.")
app.add_typer(ab_cmd.app, name="ab", help="A/B tests of two served models.")
app.add_typer(content_cmd.app, name="content", help="Encode item content; similar items.")
app.add_typer(config_cmd.app, name="config", help="Show the effective configuration.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prismrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="log details (every metric of every epoch) to stderr"
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no progress bars or lines (errors and results only)"
    ),
    debug: bool = typer.Option(
        False, "--debug", help="show the full traceback of an unexpected error (any position)"
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    progress.to_stderr(quiet)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: an unexpected error is one line on stderr and exit 1.

    ``--debug`` anywhere on the command line shows the traceback instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="prismrec")
    except Exception as exc:  # noqa: BLE001 (the last line of defence: never a bare traceback)
        if debug:
            raise
        text = " ".join(str(exc).split())  # one line, however long the message
        fail(
            f"unexpected {type(exc).__name__}: {escape(text[:300])} (a bug in prismrec; "
            "run again with --debug for the traceback)"
        )
        sys.exit(1)
