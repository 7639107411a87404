"""`mlcheck gate`: the suites run by pytest in a subprocess, and the exit code they decide."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlcheck.commands.args import EXIT_ERROR, EXIT_PASS, Subparsers, add_suites_choice
from mlcheck.errors import ConfigError, InfrastructureError, MlcheckError
from mlcheck.extras import run_needs
from mlcheck.run.options import RUN_ID_ENV, RunOptions, add_gate_options
from mlcheck.run.supervise import run_interruptible

__all__ = ["cmd_gate", "register"]


def register(subparsers: Subparsers) -> None:
    gate = subparsers.add_parser(
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
    add_suites_choice(gate)
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
    env = {**gate_environment(os.environ), RUN_ID_ENV: run_id}
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


def gate_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the gate's pytest runs in: this one, less an outer pytest-xdist
    worker's variables (`mlcheck gate` started from a test under `pytest -n`). With them,
    pytest-benchmark would take the gate's pytest for a worker, turn itself off, and leave
    the in-process latency gates nothing to measure."""
    return {name: value for name, value in environ.items() if not name.startswith("PYTEST_XDIST_")}


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


def _default_suites(options: RunOptions, which: str) -> list[str]:
    from mlcheck.run.spec import RunSpec  # the policy names the extra suites

    return RunSpec(options).suites(which)


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
