"""`mlcheck serve`: the serving core on a port (uvicorn), following a registry alias if asked."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlcheck.commands.args import EXIT_PASS, Subparsers, positive_int, tcp_port
from mlcheck.errors import ConfigError
from mlcheck.stats.tasks import TASK_CHOICES

__all__ = ["cmd_serve", "register"]


def register(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve a model over HTTP (/predict, /health, /ready, /model/info, /metrics)"
    )
    serve.add_argument("--model", default="demo", metavar="URI", help="model URI (default: demo)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=tcp_port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--max-rows", type=positive_int, default=1000, help="most rows per request (default 1000)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=1_048_576,
        help="largest request body (default 1 MiB)",
    )
    serve.add_argument(
        "--decision-threshold",
        type=float,
        default=0.5,
        help="probability at which class 1 is predicted (default 0.5)",
    )
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="uvicorn worker processes (default 1); with more, /metrics adds up every worker's "
        "counts (Prometheus multiprocess mode)",
    )
    serve.add_argument(
        "--schema",
        metavar="PATH",
        help="pandera schema (.py defining SCHEMA, or .yaml) that requests must also satisfy: "
        "ranges, categories, nullability (default: the model's signature only)",
    )
    serve.add_argument(
        "--body-timeout-s",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request body must arrive within this (default 10; then 408)",
    )
    serve.add_argument(
        "--header-timeout-s",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request's line and headers must arrive within this (default 10; then 408 and "
        "the connection closes)",
    )
    _add_model_and_log_options(serve)
    serve.set_defaults(handler=cmd_serve)


def _add_model_and_log_options(serve: argparse.ArgumentParser) -> None:
    """--task, --target, the logs, --reload-every, --capture and --allowed-hosts."""
    serve.add_argument(
        "--task",
        default="auto",
        choices=TASK_CHOICES,
        help="what the model is (default auto: from the model; a plain pyfunc model decides by "
        "its first outputs): binary answers {class, probability}, multiclass {class, "
        "probabilities}, regression {value}",
    )
    serve.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label column of --schema, which requests do not carry (used when the model "
        "has no signature and its features come from the schema)",
    )
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: one JSON line per request on standard output (time, request_id, route, "
        "status, latency_ms, rows, model_version, predictions, reason) and the server's own "
        "events; the request id is the client's X-Request-ID or a new one, sent back in the "
        "response (default: text)",
    )
    serve.add_argument(
        "--reload-every",
        default="0",
        metavar="DURATION",
        help="with --model models:/NAME@ALIAS: check the alias every DURATION (30s, 5m, 1h) "
        "and swap in the version it points to once it loads and passes the parity check; a "
        "version that fails keeps the old one serving (ml_model_reload_total{outcome}). "
        "POST /model/reload (from this machine) does the same on demand (default: 0, never)",
    )
    serve.add_argument(
        "--capture",
        metavar="DIR",
        help="append every predicted row (features, prediction, model version, request id) to "
        "Parquet files in DIR, written off the request path (rows the writer cannot keep up "
        "with are dropped and counted); `mlcheck gate --current DIR` gates them",
    )
    serve.add_argument(
        "--allowed-hosts",
        default="",
        metavar="HOST[,HOST]",
        help="answer only requests whose Host header names one of these (no port; *.example.com "
        "for its subdomains), others get 400 (default: any host)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from mlcheck.models.demo import demo_model_or
    from mlcheck.serving import app as serving
    from mlcheck.serving.config import ServingConfig
    from mlcheck.serving.logs import uvicorn_log_config
    from mlcheck.serving.protocol import HeaderTimeoutProtocol
    from mlcheck.serving.reload import parse_duration

    config = ServingConfig(
        model=demo_model_or(args.model),  # the demo is trained once, before any worker starts
        schema=str(Path(args.schema).resolve()) if args.schema else None,
        target=args.target,
        decision_threshold=args.decision_threshold,
        max_rows=args.max_rows,
        max_body_bytes=args.max_body_bytes,
        workers=args.workers,
        body_timeout_s=args.body_timeout_s,
        header_timeout_s=args.header_timeout_s,
        task=args.task,
        log_format=args.log_format,
        reload_every_s=parse_duration(args.reload_every),
        capture_dir=str(Path(args.capture).resolve()) if args.capture else None,
        allowed_hosts=tuple(args.allowed_hosts.split(",")),
    )
    if args.capture and Path(args.capture).exists() and not Path(args.capture).is_dir():
        raise ConfigError(
            f"--capture={args.capture!r} is a file; pass a folder for the capture files "
            "(it is made if it does not exist)"
        )
    _check_port_free(args.host, args.port)
    os.environ.update(config.to_env())
    app = serving.app_from_env()  # fail here, with exit 2, if the model does not load
    if config.workers > 1:
        _multiprocess_metrics_dir()
    uvicorn.run(
        # one worker serves the app just built (the model loaded once); several load their own
        app if config.workers == 1 else "mlcheck.serving.app:app_from_env",
        factory=config.workers > 1,
        host=args.host,
        port=args.port,
        workers=config.workers,
        log_level=args.log_level,
        log_config=(
            uvicorn_log_config(args.log_level) if args.log_format == "json" else LOGGING_CONFIG
        ),
        access_log=False,
        timeout_keep_alive=5,  # idle keep-alive connections close (heads, bodies: 10 s, 408)
        http=HeaderTimeoutProtocol,
    )
    return EXIT_PASS


def _check_port_free(host: str, port: int) -> None:
    """--port must be free before the model loads: uvicorn would exit 3 after it, unnamed."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigError(f"--host={host!r} --port={port}: cannot listen ({exc})") from exc
            raise ConfigError(
                f"--port={port} is in use on {host}; stop what listens there or pick another port"
            ) from exc


def _multiprocess_metrics_dir() -> None:
    """An empty folder for the workers' metric files (Prometheus multiprocess mode).

    The workers are new processes that read it when they first import prometheus_client.
    """
    import tempfile

    from mlcheck.serving.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="mlcheck-metrics-")
