"""The `mlcheck` command: data, train, serve, gate, init, promote, report, load, stack.

Exit codes: 0 every gate passed; 1 a gate failed (the model is blocked); 2 the run could not
decide (bad usage or configuration, unreadable data, a service that did not start, no tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from mlcheck.bench.run import SECTIONS
from mlcheck.data.scenarios import SCENARIOS
from mlcheck.errors import ConfigError, InfrastructureError, MlcheckError
from mlcheck.extras import run_needs
from mlcheck.run.options import RUN_ID_ENV, RunOptions, add_gate_options
from mlcheck.run.supervise import run_interruptible
from mlcheck.stats.tasks import TASK_CHOICES

__all__ = ["main"]

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {value}")
    return value


def _readme(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no file {text!r}: name the README to rewrite")
    return path


def cmd_data(args: argparse.Namespace) -> int:
    from mlcheck.data.bank import generate
    from mlcheck.data.io import write_table
    from mlcheck.data.scenarios import apply_scenario

    frame = apply_scenario(generate(args.rows, args.seed), args.scenario, args.strength, args.seed)
    path = write_table(frame, args.out, "--out")
    change = (
        f", scenario {args.scenario} at strength {args.strength:g}"
        if args.scenario != "none"
        else ""
    )
    print(f"wrote {len(frame):,} rows (seed {args.seed}{change}) to {path}")
    return EXIT_PASS


def cmd_train(args: argparse.Namespace) -> int:
    from mlcheck.data.io import read_table
    from mlcheck.models.training import train_xgboost

    frame = read_table(args.data, "--data")
    out = train_xgboost(frame, args.out, target=args.target, seed=args.seed, rounds=args.rounds)
    print(f"saved an XGBoost MLflow model trained on {len(frame):,} rows to {out}")
    if args.register:
        from mlcheck.models.registry import register_model

        version = register_model(out, args.register, args.alias)
        alias = f" as @{args.alias}" if args.alias else ""
        print(f"registered {args.register} version {version}{alias}")
    elif args.alias:
        raise ConfigError(f"--alias={args.alias!r} needs --register NAME (the model to alias)")
    return EXIT_PASS


def cmd_promote(args: argparse.Namespace) -> int:
    """Move --to to the version --from names, only when its gate passed."""
    from mlcheck.models.registry import promote, version_of
    from mlcheck.results import SuiteResult

    if args.gate_json:
        path = Path(args.gate_json)
        try:
            suite = SuiteResult.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ConfigError(
                f"--gate-json={str(path)!r} is not a readable gate.json: {exc}"
            ) from exc
    else:
        version_of(args.name, args.source_alias)  # a missing name or alias: exit 2 before gating
        args.model = f"models:/{args.name}@{args.source_alias}"
        cmd_gate(args, [])
        suite = SuiteResult.from_json(
            (Path(args.report_dir) / "gate.json").read_text(encoding="utf-8")
        )
    promotion = promote(args.name, suite, args.source_alias, args.target_alias)
    print(f"mlcheck promote: {promotion.message}")
    return promotion.exit_code


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


def _gate_exit_code(pytest_code: int, report_dir: Path, run_id: str) -> tuple[int, str]:
    """The gate's exit code from pytest's and the gate.json this run wrote."""
    if pytest_code == 5:
        return EXIT_ERROR, "no tests were collected: check the SUITE paths"
    gate_json = report_dir / "gate.json"
    try:
        data = json.loads(gate_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if data.get("context", {}).get("run_id") == run_id:
        code = int(data.get("exit_code", EXIT_ERROR))
        if code == EXIT_PASS and pytest_code != 0:
            return EXIT_ERROR, (
                f"pytest exited {pytest_code} after every gate passed: a report or a plugin "
                "failed (its error is in pytest's output above)"
            )
        return code, data.get("verdict", "ERROR")
    if pytest_code in (3, 4):
        return EXIT_ERROR, f"pytest stopped with exit code {pytest_code} (usage or internal error)"
    return EXIT_ERROR, f"{gate_json} was not written by this run: the gate plugin did not run"


def _default_suites(options: RunOptions, which: str) -> list[str]:
    from mlcheck.run.inputs import GateInputs  # the policy names the extra suites

    return GateInputs(options).suites(which)


def cmd_gate(args: argparse.Namespace, extra: Sequence[str]) -> int:
    options = RunOptions.from_getter(lambda name: getattr(args, name, None))
    report_dir = Path(options.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    from mlcheck.reports import STALE_REPORTS

    for older in STALE_REPORTS:  # removing needs no space: no older PASS stays
        (report_dir / older).unlink(missing_ok=True)
    run_id = uuid.uuid4().hex
    try:
        absent = run_needs(options.model, options.champion, options.engine, options.stack)
        if absent is not None:  # one line naming the extra, before pytest starts
            raise absent
        which = _which_suites(args, options)
        suites = args.suites or _default_suites(options, which)
        missing = [s for s in suites if not Path(s.split("::")[0]).exists()]
        if missing:
            raise ConfigError(
                f"SUITE={missing[0]!r} does not exist; pass the paths of pytest files or "
                "folders, or none for mlcheck's own suites and the policy's [suites] extra"
            )
    except MlcheckError as exc:  # the reports say ERROR too: no older gate.json stays behind
        _write_run_error(report_dir, options, run_id, str(exc))
        raise
    command = [
        sys.executable,
        "-m",
        "pytest",
        *suites,
        *options.as_pytest_args(),
        "--mlcheck-gate-reports",
        "-p",
        "no:locust",  # locust patches gevent; it always runs as a subprocess
        f"--html={report_dir / 'report.html'}",
        "--self-contained-html",
        f"--junitxml={report_dir / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
        "-rfE",
        *(["-v"] if getattr(args, "verbose", False) else []),
        *extra,
    ]
    env = dict(os.environ, **{RUN_ID_ENV: run_id})
    # Until this run decides, its report says ERROR: a killed run never leaves an older PASS.
    pending = f"{run_id}-pending"  # not this run's id: pytest's own gate.json must replace it
    _write_run_error(report_dir, options, pending, "the gate run started and did not finish")
    pytest_code, interrupted = run_interruptible(command, env)
    if interrupted is not None:
        code, why = EXIT_ERROR, f"the gate run was interrupted ({interrupted}); no verdict"
    else:
        code, why = _gate_exit_code(pytest_code, report_dir, run_id)
    if code == EXIT_ERROR and why not in ("ERROR",):
        _write_run_error(report_dir, options, run_id, why)
    _append_step_summary(report_dir)
    print(f"mlcheck gate: exit {code} ({why}){_partial_note(report_dir, run_id)}", file=sys.stderr)
    return code


def _which_suites(args: argparse.Namespace, options: RunOptions) -> str:
    """--suites, or builtin for --only (which names mlcheck's own suites)."""
    from mlcheck.run.selection import parse_only

    if not parse_only(options.only):  # an unknown name: exit 2 naming --only and the names
        return str(args.which_suites)
    if args.suites:
        raise ConfigError(
            f"--only={options.only!r} and SUITE={args.suites[0]!r}: --only picks among "
            "mlcheck's own suites; pass either suite names (--only) or suite paths"
        )
    if args.which_suites == "extra":
        raise ConfigError(
            f"--only={options.only!r} and --suites=extra: --only picks among mlcheck's own "
            "suites, the policy's [suites] extra do not run with it"
        )
    return "builtin"


def _partial_note(report_dir: Path, run_id: str) -> str:
    """' · partial run: ...' when this run's gate.json says it left gates out, else ''."""
    try:
        data = json.loads((report_dir / "gate.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    context = data.get("context") or {}
    selection = context.get("selection") or {}
    if context.get("run_id") != run_id or selection.get("full", True):
        return ""
    return f" · {selection.get('summary', 'partial run')}"


def _write_run_error(report_dir: Path, options: RunOptions, run_id: str, why: str) -> None:
    """Reports that say ERROR with the reason, when pytest stopped before the plugin wrote them."""
    from mlcheck.reports import write_reports
    from mlcheck.results import GateResult, SuiteResult

    gate = GateResult.error("mlcheck.run", why)
    suite = SuiteResult.of(
        [gate], model=options.model or "demo", policy=options.policy or "default", run_id=run_id
    )
    try:
        write_reports(suite, report_dir)
    except OSError as exc:
        raise InfrastructureError(
            f"--report-dir={str(report_dir)!r}: the reports cannot be written ({exc}); free "
            "space there or pass another --report-dir"
        ) from exc


def _append_step_summary(report_dir: Path) -> None:
    """On GitHub Actions, add the gate table to the job's summary page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    summary = report_dir / "summary.md"
    if target and summary.is_file():
        with open(target, "a", encoding="utf-8") as out:
            out.write(summary.read_text(encoding="utf-8") + "\n")


def cmd_report(args: argparse.Namespace) -> int:
    from mlcheck.errors import DataError
    from mlcheck.reports import write_reports
    from mlcheck.results import SuiteResult

    source = Path(args.source)
    try:
        suite = SuiteResult.from_json(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"--from={str(source)!r} cannot be read ({exc}); pass a gate.json") from exc
    except (ValueError, KeyError) as exc:
        raise DataError(f"--from={str(source)!r} is not a gate.json: {exc}") from exc
    out = Path(args.out) if args.out else source.parent
    if out.resolve() == source.parent.resolve():
        from mlcheck.reports import to_markdown, write_index

        (out / "summary.md").write_text(to_markdown(suite, str(out)), encoding="utf-8")
        written = [out / "summary.md", write_index(suite, out)]
    else:
        written = write_reports(suite, out)
    print(f"rendered {', '.join(str(p) for p in written)} ({suite.verdict.value})")
    return EXIT_PASS


def cmd_stack_build_images(args: argparse.Namespace) -> int:
    from mlcheck.policy import load_policy
    from mlcheck.stack.images import build_images

    build_images(
        load_policy(args.policy).stack, force=args.force, log=lambda text: print(text, flush=True)
    )
    return EXIT_PASS


def cmd_stack_which(args: argparse.Namespace) -> int:
    from mlcheck.policy import load_policy
    from mlcheck.stack import choose_backend

    backend, reason = choose_backend(args.stack, load_policy(args.policy).stack)
    print(f"{backend.name if backend is not None else 'off'}: {reason}")
    return EXIT_PASS


def _add_suites_choice(parser: argparse.ArgumentParser) -> None:
    from mlcheck.run.inputs import SUITE_CHOICES

    parser.add_argument(
        "--suites",
        dest="which_suites",
        default="all",
        choices=SUITE_CHOICES,
        help="which suites run when no SUITE is given: mlcheck's own (builtin), the policy's "
        "[suites] extra (extra), or both (all, the default)",
    )


def cmd_init(args: argparse.Namespace) -> int:
    from mlcheck.run.init import POLICY_FILE, init_repository, next_command

    directory = Path(args.directory)
    seeded = init_repository(
        args.model,
        Path(args.reference),
        args.target,
        directory,
        current=Path(args.current) if args.current else None,
        margin=args.margin,
        policy=Path(args.policy) if args.policy else None,
        force=args.force,
        progress=lambda line: print(f"mlcheck init: {line}", file=sys.stderr),
    )
    for path in seeded.written:
        print(f"wrote {path}")
    for path in seeded.kept:
        print(f"kept {path} (it exists; --force overwrites it)")
    t = seeded.timings
    if t is not None:
        served = (
            f"; served one row p95 {t.served_single_p95_ms:.3g} ms"
            if t.served_single_p95_ms is not None
            else f"; {t.note}"
        )
        print(
            f"timed here: predict one row p95 {t.single_p95_ms:.3g} ms, {t.batch_rows} rows "
            f"p95 {t.batch_p95_ms:.3g} ms{served} (thresholds with headroom: see the policy)"
        )
    if args.policy:
        policy: Path | None = Path(args.policy)
    else:
        elsewhere = directory.resolve() != Path.cwd().resolve()
        policy = directory / POLICY_FILE if elsewhere else None
    print(f"next: {next_command(args.model, args.reference, args.current, policy)}")
    return EXIT_PASS


def cmd_load(args: argparse.Namespace) -> int:
    from mlcheck.run.inputs import LOCUSTFILE

    print(LOCUSTFILE)
    print(
        f"# run it against a serving core: locust -f {LOCUSTFILE} --headless -u 20 -r 10 -t 20s "
        "--host http://127.0.0.1:8000",
        file=sys.stderr,
    )
    return EXIT_PASS


def cmd_bench(args: argparse.Namespace) -> int:
    from mlcheck.bench.run import run_bench

    path, failed = run_bench(args.only or SECTIONS, Path(args.report_dir), quick=args.quick)
    print(f"mlcheck bench: wrote {path} and {path.with_suffix('.json')}", file=sys.stderr)
    if args.readme is not None and not args.quick:
        from mlcheck.bench.readme import RECORD, record_run, update_readme

        record = args.readme.parent / RECORD
        merged = record_run(json.loads(path.with_suffix(".json").read_text()), record)
        names = update_readme(args.readme, merged)
        print(f"mlcheck bench: recorded in {record}; {args.readme}: {names}", file=sys.stderr)
    if failed:
        print(f"mlcheck bench: {failed} section(s) failed (see the report)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PASS


def _capture_folder(value: str) -> Path:
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(
            f"--capture={value!r} is not a folder; pass the folder `mlcheck serve --capture "
            "DIR` writes"
        )
    return folder


def cmd_label(args: argparse.Namespace) -> int:
    from mlcheck.data.capture import LABELS_FILE, label_capture
    from mlcheck.data.io import read_table

    folder = _capture_folder(args.capture)
    joined = label_capture(folder, read_table(args.labels, "--labels"), args.id_column, args.target)
    print(
        f"mlcheck label: {joined.labelled:,} of {joined.captured:,} captured rows labelled "
        f"({folder / LABELS_FILE}); `mlcheck gate --current {folder}` now gates them"
    )
    for note in joined.notes():
        print(f"  {note}")
    return EXIT_PASS


def cmd_monitor(args: argparse.Namespace) -> int:
    from mlcheck.data.io import read_table
    from mlcheck.policy import load_policy
    from mlcheck.run.monitor import Monitor
    from mlcheck.serving.reload import parse_duration
    from mlcheck.stack.exporter import GateMetrics

    folder = _capture_folder(args.capture)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlcheck",
        description="Decide whether a machine-learning model may ship: quality, schema, drift "
        "and latency gates run as pytest suites against a real serving core.",
        epilog="Exit codes: 0 pass, 1 a gate failed (blocked), 2 could not decide.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="generate demo bank-marketing data (CSV or Parquet)")
    data.add_argument(
        "--rows",
        type=_positive_int,
        default=20_000,
        help="rows to generate (1 to 10,000,000; default 20000)",
    )
    data.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    data.add_argument("--out", required=True, metavar="PATH", help="output file, .csv or .parquet")
    data.add_argument(
        "--scenario",
        default="none",
        choices=list(SCENARIOS),
        help="a named change to the rows, for gate tests (default none); see the README",
    )
    data.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="how strong the scenario is: 0 none, 1 caught at the demo policy (default 1)",
    )
    data.set_defaults(handler=cmd_data)

    train = sub.add_parser(
        "train", help="train an XGBoost model and save it as an MLflow model directory"
    )
    train.add_argument(
        "--data", required=True, metavar="PATH", help="training data, .csv or .parquet"
    )
    train.add_argument(
        "--target", default="y", metavar="COLUMN", help="0/1 label column (default y)"
    )
    train.add_argument(
        "--out", required=True, metavar="DIR", help="new directory for the MLflow model"
    )
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument(
        "--rounds", type=_positive_int, default=300, help="boosting rounds (default 300)"
    )
    train.add_argument(
        "--register",
        metavar="NAME",
        help="also register the model in MLflow under NAME (MLFLOW_TRACKING_URI names the server)",
    )
    train.add_argument("--alias", help="alias for the new version, e.g. challenger")
    train.set_defaults(handler=cmd_train)

    serve = sub.add_parser(
        "serve", help="serve a model over HTTP (/predict, /health, /ready, /model/info, /metrics)"
    )
    serve.add_argument("--model", default="demo", metavar="URI", help="model URI (default: demo)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--max-rows", type=_positive_int, default=1000, help="most rows per request (default 1000)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_positive_int,
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
        type=_positive_int,
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
    serve.set_defaults(handler=cmd_serve)

    gate = sub.add_parser(
        "gate",
        help="run the gate suites and exit 0 pass / 1 blocked / 2 could not decide",
        description="Run the gate suites with pytest; arguments after -- go to pytest. "
        "Reports (gate.json, summary.md, report.html, junit.xml) go to --report-dir.",
    )
    gate.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="pytest files or folders to run (default: as --suites says)",
    )
    _add_suites_choice(gate)
    add_gate_options(gate.add_argument, "")
    gate.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show each failed test's traceback in the terminal too (they are always in "
        "report.html; by default the terminal shows the gate table and each blocked gate's "
        "reason)",
    )
    gate.set_defaults(handler=cmd_gate)

    promote = sub.add_parser(
        "promote",
        help="move a registry alias (challenger -> champion) only when the gate passed",
        description="Gate models:/NAME@FROM (or read --gate-json) and, on PASS, point alias TO "
        "at that version; the decision is tagged on the version. Exit 0 promoted (or already "
        "there), 1 the gate failed (alias untouched), 2 could not decide.",
    )
    promote.add_argument("--name", required=True, help="registered model name")
    promote.add_argument(
        "--from",
        dest="source_alias",
        metavar="FROM",
        default="challenger",
        help="alias to promote (default challenger)",
    )
    promote.add_argument(
        "--to",
        dest="target_alias",
        metavar="TO",
        default="champion",
        help="alias to move (default champion)",
    )
    promote.add_argument(
        "--gate-json", metavar="PATH", help="use this gate run instead of running the gate"
    )
    promote.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="pytest files or folders when gating (default: as --suites says)",
    )
    _add_suites_choice(promote)
    add_gate_options(promote.add_argument, "", skip=("model", "only"))
    promote.set_defaults(handler=cmd_promote)

    stack = sub.add_parser(
        "stack", help="the real Prometheus and MLflow of gate runs: images and backend check"
    )
    stack_sub = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    build = stack_sub.add_parser(
        "build-images",
        help="build the Prometheus and MLflow images locally (no registry; root, dockerd)",
        description="Build the images of the containers backend without a registry: "
        "Prometheus from Debian's binary, MLflow on a debootstrap Python base. Images that "
        "exist are skipped. Names come from [stack] of the policy.",
    )
    build.add_argument("--policy", metavar="PATH", help="gates.toml naming the images")
    build.add_argument("--force", action="store_true", help="rebuild images that exist")
    build.set_defaults(handler=cmd_stack_build_images)
    which = stack_sub.add_parser(
        "which", help="print the backend --stack would use and why (exit 2: none can start)"
    )
    which.add_argument("--stack", default="auto", metavar="BACKEND", help="default: auto")
    which.add_argument("--policy", metavar="PATH", help="gates.toml naming the images")
    which.set_defaults(handler=cmd_stack_which)

    init = sub.add_parser(
        "init",
        help="seed a repository: checks/gates.toml measured on your model, checks/schema.yaml, "
        "and a GitHub workflow (keeps existing files unless --force)",
        description="Measure the model (binary, multiclass or regression) on the reference data "
        "and write checks/gates.toml (quality thresholds: the measured interval loosened by its "
        "half-width and --margin, so the first run passes and a real regression fails; slices "
        "over low-cardinality categorical columns; latency and load thresholds from the "
        "model's own timings here, with headroom), checks/schema.yaml (inferred, to edit) and "
        ".github/workflows/mlcheck.yml (installs this mlcheck with pip and runs mlcheck gate). "
        "Existing files are kept and named; the missing ones are written.",
    )
    init.add_argument("--model", required=True, metavar="URI", help="the model to gate")
    init.add_argument(
        "--reference", required=True, metavar="PATH", help="labelled reference data (CSV/Parquet)"
    )
    init.add_argument("--target", default="y", metavar="COLUMN", help="label column (default y)")
    init.add_argument(
        "--current",
        metavar="PATH",
        help="the data the workflow gates and init times the model on (default: the reference)",
    )
    init.add_argument(
        "--directory", default=".", metavar="DIR", help="the repository root (default: here)"
    )
    init.add_argument(
        "--policy",
        metavar="PATH",
        help="write the policy here instead of DIR/checks/gates.toml (it names the schema "
        "relative to its own folder)",
    )
    init.add_argument(
        "--margin",
        type=float,
        default=0.02,
        help="regression tolerated below what was measured, 0 to 0.5 (default 0.02; for "
        "metrics in the target's units, a share of the measured value)",
    )
    init.add_argument(
        "--force", action="store_true", help="overwrite the files that exist (default: keep them)"
    )
    init.set_defaults(handler=cmd_init)

    load = sub.add_parser(
        "load",
        help="print the path of mlcheck's locustfile (for locust -f, from any directory)",
    )
    load.set_defaults(handler=cmd_load)

    report = sub.add_parser(
        "report", help="re-render summary.md and index.html (with plots) from a gate.json"
    )
    report.add_argument("--from", dest="source", required=True, metavar="PATH", help="a gate.json")
    report.add_argument(
        "--out", metavar="DIR", help="where to write (default: the gate.json's folder)"
    )
    report.set_defaults(handler=cmd_report)

    label = sub.add_parser(
        "label",
        help="join labels that arrived later to captured traffic (serve --capture DIR)",
        description="Add to DIR/labels.parquet the label of each captured row, matched by the "
        "request id (and `row`, the row's place in its request, when a request held several); "
        "every captured row of a retried request id takes its label. Labels are checked "
        "against the captured predictions (numbers for a regressor, 0/1 for a 0/1 model); "
        "label files accumulate and a row labelled again takes the latest label. Then "
        "`mlcheck gate --current DIR` gates the labelled rows, quality gates included.",
    )
    label.add_argument("--capture", required=True, metavar="DIR", help="the capture folder")
    label.add_argument(
        "--labels", required=True, metavar="FILE", help="CSV or Parquet with the labels"
    )
    label.add_argument(
        "--id-column",
        default="request_id",
        metavar="COLUMN",
        help="the labels' request id column (the X-Request-ID the requests were sent with; "
        "default: request_id)",
    )
    label.add_argument(
        "--target", default="y", metavar="COLUMN", help="the labels' label column (default: y)"
    )
    label.set_defaults(handler=cmd_label)

    monitor = sub.add_parser(
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

    bench = sub.add_parser(
        "bench",
        help="benchmarks side by side with mlflow, Evidently and alibi-detect "
        "(reports/bench.json, bench.md)",
        description="Measure, in one run: the serving core vs `mlflow models serve` (wrk where "
        "installed), the drift gate vs Evidently and alibi-detect (alibi-detect from "
        ".venv-alibi, made by scripts/alibi-venv.sh, or $MLCHECK_ALIBI_PYTHON), the quality "
        "intervals vs a scikit-learn loop, the whole gate from 10k to 1M rows, and the gates "
        "over 2M to 20M rows of Parquet partitions on a Dask LocalCluster vs in memory. About "
        "16 minutes on 2 cores. Exit 2 when a section failed.",
    )
    bench.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)}; default: all)",
    )
    bench.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run, numbers not to be quoted"
    )
    bench.add_argument(
        "--report-dir", default="reports", metavar="DIR", help="where bench.json and bench.md go"
    )
    bench.add_argument(
        "--readme",
        type=_readme,
        metavar="README.md",
        help="also record the sections measured in benchmarks/bench.json beside this README and "
        "rewrite its tables between <!-- bench:NAME --> markers (not with --quick)",
    )
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1 :]
    args = build_parser().parse_args(argv)
    try:
        if args.command == "gate":
            return cmd_gate(args, extra)
        return int(args.handler(args))
    except MlcheckError as exc:
        print(f"mlcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a file that cannot be read or written: never exit 1 (a verdict)
        print(f"mlcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as exc:  # an unforeseen failure could not decide: never exit 0 or 1
        import traceback

        traceback.print_exc()
        print(f"mlcheck {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
