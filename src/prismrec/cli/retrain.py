"""``prismrec retrain``: export, warm-start, compare on held-back events, promote (on a schedule).

Exit codes of a single run: 0 the candidate was promoted, 3 it was not (the current model
stays), 1 an error, 2 bad usage. With ``--every``: 0 when stopped with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prismrec.cli._common import (
    DataOpt,
    HoldoutOpt,
    PrefixOpt,
    StoreOpt,
    TombstoneSecretOpt,
    console,
    err_console,
    escape,
    guard,
)

if TYPE_CHECKING:
    from prismrec.api.loop import RetrainDecision

__all__ = ["NOT_PROMOTED", "retrain"]

NOT_PROMOTED = 3


def retrain(
    store: StoreOpt,
    data: DataOpt,
    models: Annotated[
        Path,
        typer.Option(
            "--models",
            metavar="MODELS_DIR",
            help="models folder: one directory per version, 'current' link, retrain.log.jsonl",
        ),
    ],
    every: Annotated[
        str | None,
        typer.Option(
            metavar="INTERVAL", help="run again every INTERVAL (30m, 1h, 1d) until Ctrl-C"
        ),
    ] = None,
    promote_if: Annotated[
        str,
        typer.Option(
            "--promote-if",
            metavar="RULE",
            help="METRIC@K>=current (no worse than the current model) or METRIC@K>=NUMBER",
        ),
    ] = "ndcg@10>=current",
    holdout: HoldoutOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="warm-start epochs (default: the current model's [train])"),
    ] = None,
    bootstrap: Annotated[
        Path | None,
        typer.Option(
            metavar="MODEL_DIR",
            help="when MODELS_DIR has no 'current': copy this model in as the current one",
        ),
    ] = None,
    tombstone_secret: TombstoneSecretOpt = None,
    prefix: PrefixOpt = "prismrec:",
) -> None:
    """Retrain from the live store and promote the new model only if it is no worse.

    Each run exports the store over DATA (the original dataset), warm-starts a candidate from
    MODELS_DIR/current, measures both on the held-back newest events and, when the rule holds,
    points MODELS_DIR/current at the candidate (else removes it). Every run appends its
    decision to MODELS_DIR/retrain.log.jsonl. Exit code of one run: 0 promoted, 3 not
    promoted, 1 error. A running 'prismrec serve --model MODELS_DIR/current' serves the new
    model after a restart.
    """
    from prismrec.api.loop import RetrainPlan, parse_interval, parse_rule, retrain_runs

    promoted = False
    with guard():
        interval = parse_interval(every) if every is not None else None
        plan = RetrainPlan(
            store,
            data,
            models,
            parse_rule(promote_if),
            holdout,
            epochs,
            bootstrap,
            tombstone_secret,
            prefix,
        )
        try:
            with _sigterm_as_interrupt():
                for decision in retrain_runs(plan, interval):
                    promoted = decision.promoted
                    _show(decision)
        except KeyboardInterrupt:
            if interval is None:
                raise
            err_console.print("stopped; the current model is as the log says")
            return
    if not promoted:
        raise typer.Exit(NOT_PROMOTED)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (docker stop, Kubernetes, systemd) stops the command as Ctrl-C does: a run in
    progress removes its partial directories, and ``current`` stays as it was."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _show(d: RetrainDecision) -> None:
    if d.candidate is None:  # a failed run of the loop (recorded; the loop goes on)
        err_console.print(f"[red]run failed:[/] {escape(d.reason)}", highlight=False)
        return
    word = "[green]promoted[/]" if d.promoted else "[yellow]not promoted[/]"
    console.print(
        f"{word} {d.candidate} (current was {d.parent}): {escape(d.reason)} on {d.cases:,} "
        "held-back cases",
        highlight=False,
        soft_wrap=True,
    )
