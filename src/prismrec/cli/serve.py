"""``prismrec serve``: the HTTP API over a trained model.

Settings resolve flags > ``PRISMREC_*`` environment variables > ``[serve]`` of ``--config`` >
defaults: every option defaults to "not given", so an option left out never hides the
environment or the file.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from prismrec.cli._common import ConfigOpt, err_console, guard


class Quantize(str, Enum):
    none = "none"
    int8 = "int8"


class IndexQuantize(str, Enum):
    none = "none"
    fp16 = "fp16"
    sq8 = "sq8"
    pq = "pq"


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
        Path | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL_DIR",
            help="trained prism/sasrec model directory ([serve] model_dir, PRISMREC_MODEL_DIR)",
        ),
    ] = None,
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    store: Annotated[
        str | None,
        typer.Option(help="events and state: sqlite:PATH or redis://HOST:PORT/DB ([serve] store)"),
    ] = None,
    keys: Annotated[str | None, typer.Option(help="API keys store (default: the store)")] = None,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth", help="require 'Authorization: Bearer KEY' (default on)"),
    ] = None,
    quantize: Annotated[
        Quantize | None, typer.Option(help="int8: dynamic int8 interest model (default none)")
    ] = None,
    index: Annotated[
        IndexKind | None, typer.Option(help="item index (default auto: exact below 20k items)")
    ] = None,
    index_quantize: Annotated[
        IndexQuantize | None,
        typer.Option(
            help="how the HNSW/IVF index stores item vectors: fp16, sq8 or pq (ivf only); "
            "scores stay exact (default none)"
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.0, help="requests/s per key, 0: unlimited (default 200)")
    ] = None,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRS",
            help="comma-separated addresses or networks of the load balancers whose "
            "X-Forwarded-For names the client for rate limits and logs; '*' trusts any "
            "([serve] trusted_proxies; default 127.0.0.1,::1)",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="REPORT_DIR",
            help="the model's 'prismrec evaluate --report' directory, shown on the /ui model "
            "page (default: MODEL_DIR/report when it exists)",
        ),
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option(
            metavar="MODELS_DIR",
            help="follow MODELS_DIR/current (what 'prismrec retrain' promotes): serve it, and "
            "swap to where it points whenever it changes ([serve] watch)",
        ),
    ] = None,
    candidate: Annotated[
        Path | None,
        typer.Option(
            metavar="MODEL_DIR",
            help="A/B test: serve this model to --candidate-share of users ([serve] candidate_dir)",
        ),
    ] = None,
    candidate_share: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="A/B test: share of users on --candidate (0.1)"),
    ] = None,
    log_level: Annotated[LogLevel, typer.Option(help="server log level")] = LogLevel.info,
) -> None:
    """Serve recommendations over HTTP (web page at /ui, OpenAPI at /docs); events change the
    next answer.

    Settings: options given here, then PRISMREC_* environment variables, then the [serve]
    table of --config, then the defaults ('prismrec config show --config FILE' prints them).
    """
    from prismrec.api import check_model_dir
    from prismrec.config import serve_settings
    from prismrec.errors import ConfigError
    from prismrec.serving.engine.service import Service
    from prismrec.serving.http.app import create_app
    from prismrec.serving.http.server import limit_malloc_arenas, run
    from prismrec.serving.lifecycle.hotswap import with_watch
    from prismrec.serving.state.store import parse_store_url
    from prismrec.training.manifest import current_model

    limit_malloc_arenas()  # before any thread allocates: keeps RSS flat under load
    with guard():
        settings = serve_settings(
            config,
            model_dir=model,
            store=store,
            keys=keys,
            auth=auth,
            quantize=quantize.value if quantize else None,
            index=index.value if index else None,
            index_quantize=index_quantize.value if index_quantize else None,
            rate_per_s=rate,
            trusted_proxies=trusted_proxies,
            report_dir=report,
            watch=watch,
            candidate_dir=candidate,
            candidate_share=candidate_share,
        )
        if settings.watch is not None and current_model(settings.watch) is None:
            raise ConfigError(
                f"{settings.watch}: no 'current' link to follow; make one with 'prismrec "
                "retrain --bootstrap MODEL_DIR' or 'ln -s VERSION_DIR current'"
            )
        settings = with_watch(settings)
        check_model_dir(settings.model_dir)
        if settings.candidate_dir is not None:
            check_model_dir(settings.candidate_dir)
        rep = settings.report_dir
        if rep is not None and not (rep / "metrics.json").is_file():
            raise ConfigError(
                f"{rep}: not an evaluation report (no metrics.json); write one with 'prismrec "
                f"evaluate --model {settings.model_dir} --data DATA_DIR --report {rep}'"
            )
        parse_store_url(settings.store)
        parse_store_url(settings.keys_url)
        service = Service(settings).start()  # load before binding: errors exit cleanly
        if not settings.auth:
            err_console.print("[bold yellow]warning:[/] authentication is off", highlight=False)
        if settings.candidate_dir is not None:
            share = settings.candidate_share
            err_console.print(
                f"A/B: {share:.0%} of users get {settings.candidate_dir}", highlight=False
            )
        err_console.print(
            f"prismrec serving {settings.model_dir} on http://{host}:{port} (page: /ui, docs: "
            f"/docs, store {settings.store})",
            highlight=False,
            markup=False,
        )
        run(create_app(settings, service), settings, host, port, log_level.value)
        service.close()
