"""`mlcheck monitor`: gate each new window of captured traffic and serve the gauges the alert
rules read (the windows themselves are `monitor_windows.Monitor`)."""

from __future__ import annotations

import argparse

from mlcheck.commands.args import EXIT_PASS, Subparsers, capture_folder
from mlcheck.errors import ConfigError

__all__ = ["cmd_monitor", "register"]


def register(subparsers: Subparsers) -> None:
    monitor = subparsers.add_parser(
        "monitor",
        help="gate each new window of captured traffic for drift (and accuracy, once "
        "labelled); serve the results as the gauges the alert rules read",
        description="Every --every, the capture files that appeared since the last window "
        "(once they hold --min-rows rows) are compared with the reference data by the drift "
        "gates, and, where labels.parquet labels their rows (mlcheck label), the captured "
        "predictions are scored. The results are served at http://127.0.0.1:PORT/metrics: "
        "ml_data_drift_share, ml_data_drift_detected, ml_model_accuracy (or ml_model_rmse), "
        "mlcheck_gate_value and mlcheck_gate_passed, which Prometheus scrapes as the job "
        "mlcheck-gates and the rules MlcheckDataDrift and MlcheckLowModelAccuracy watch.",
    )
    monitor.add_argument("--capture", required=True, metavar="DIR", help="the capture folder")
    monitor.add_argument(
        "--reference", required=True, metavar="FILE", help="the reference data (CSV or Parquet)"
    )
    monitor.add_argument(
        "--every", default="10m", metavar="DURATION", help="window interval (default: 10m)"
    )
    monitor.add_argument(
        "--min-rows",
        type=int,
        default=1000,
        metavar="N",
        help="a window waits until its new files hold N rows (default: 1000)",
    )
    monitor.add_argument(
        "--policy", metavar="PATH", help="gate policy TOML (default: checks/gates.toml if present)"
    )
    monitor.add_argument(
        "--port", type=int, default=0, help="port of /metrics on 127.0.0.1 (default: a free one)"
    )
    monitor.add_argument(
        "--model-name", default="", metavar="NAME", help="the `model` label of the gauges"
    )
    monitor.add_argument(
        "--windows", type=int, metavar="N", help="stop after N windows (default: run until stopped)"
    )
    monitor.set_defaults(handler=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    from mlcheck.commands.monitor_windows import Monitor
    from mlcheck.data.io import read_table
    from mlcheck.policy import load_policy
    from mlcheck.serving.reload import parse_duration
    from mlcheck.stack.exporter import GateMetrics

    folder = capture_folder(args.capture)
    every = parse_duration(args.every, "--every")
    if every <= 0:
        raise ConfigError(f"--every={args.every!r} must be longer than 0 (e.g. 30s or 10m)")
    if args.windows is not None and args.windows < 1:
        raise ConfigError(f"--windows={args.windows} must be 1 or more (or left out: no end)")
    policy = load_policy(args.policy)
    reference = read_table(args.reference, "--reference")
    metrics = GateMetrics(model=args.model_name)
    url = metrics.start(args.port)
    print(
        f"mlcheck monitor: gauges at {url}/metrics (Prometheus job mlcheck-gates); a window of "
        f"{folder} every {every:g} s, from {args.min_rows:,} rows",
        flush=True,
    )
    monitor = Monitor(folder, reference, policy, metrics, args.min_rows)
    try:
        monitor.run(every, lambda line: print(f"mlcheck monitor: {line}", flush=True), args.windows)
    except KeyboardInterrupt:
        pass  # stopping a monitor is how it ends
    finally:
        metrics.stop()
    return EXIT_PASS
