"""``prismrec serve``: the HTTP API over a trained model."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import err_console, fail, guard


class Quantize(str, Enum):
    none = "none"
    int8 = "int8"


class LogLevel(str, Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


class IndexKind(str, Enum):
    auto = "auto"
    exact = "exact"
    hnsw = "hnsw"
    ivf = "ivf"


def serve(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="trained prism/sasrec model directory")
    ],
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    store: Annotated[
        str, typer.Option(help="events and state: sqlite:PATH or redis://HOST:PORT/DB")
    ] = "sqlite:prismrec-state.db",
    keys: Annotated[str | None, typer.Option(help="API keys store (default: --store)")] = None,
    auth: Annotated[
        bool, typer.Option("--auth/--no-auth", help="require 'Authorization: Bearer KEY'")
    ] = True,
    quantize: Annotated[
        Quantize, typer.Option(help="int8: dynamic int8 interest model")
    ] = Quantize.none,
    index: Annotated[
        IndexKind, typer.Option(help="item index (auto: exact below 20k items)")
    ] = IndexKind.auto,
    rate: Annotated[float, typer.Option(min=0.0, help="requests/s per key (0: unlimited)")] = 200.0,
    report: Annotated[
        Path | None,
        typer.Option(
            help="the model's 'prismrec evaluate --report' directory, shown on the /ui model "
            "page (default: MODEL/report when it exists)"
        ),
    ] = None,
    log_level: Annotated[LogLevel, typer.Option(help="server log level")] = LogLevel.info,
) -> None:
    """Serve recommendations over HTTP (web page at /ui, OpenAPI at /docs); events change the
    next answer."""
    from pydantic import ValidationError

    from prismrec.serving.app import create_app
    from prismrec.serving.server import limit_malloc_arenas, run
    from prismrec.serving.service import Service
    from prismrec.serving.settings import ServeSettings

    limit_malloc_arenas()  # before any thread allocates: keeps RSS flat under load
    with guard():
        if not (model / "model.json").is_file():
            raise fail(f"{model}: not a model directory (train one with 'prismrec train')")
        if report is not None and not (report / "metrics.json").is_file():
            raise fail(
                f"{report}: not an evaluation report (no metrics.json); write one with "
                f"'prismrec evaluate --model {model} --data DATA --report {report}'"
            )
        try:
            settings = ServeSettings(
                model_dir=model,
                report_dir=report,
                store=store,
                keys=keys,
                auth=auth,
                quantize=quantize.value,
                index=index.value,
                rate_per_s=rate,
            )
        except ValidationError as exc:
            raise fail(f"bad settings: {exc.errors()[0]['msg']}") from None
        from prismrec.serving.store import parse_store_url

        parse_store_url(settings.store)
        parse_store_url(settings.keys_url)
        service = Service(settings).start()  # load before binding: errors exit cleanly
        if not auth:
            err_console.print("[bold yellow]warning:[/] authentication is off", highlight=False)
        err_console.print(
            f"prismrec serving {model} on http://{host}:{port} (page: /ui, docs: /docs, "
            f"store {store})",
            highlight=False,
        )
        run(create_app(settings, service), settings, host, port, log_level.value)
        service.close()
