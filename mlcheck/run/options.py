"""The gate options, defined once for both `--mlcheck-*` pytest flags and `mlcheck gate`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlcheck.run.selection import SUITE_NAMES

__all__ = ["GATE_OPTIONS", "RUN_ID_ENV", "OptionSpec", "RunOptions", "add_gate_options"]

#: Set by `mlcheck gate` for its pytest run; the plugin writes it into gate.json so the CLI
#: can tell this run's gate.json from a stale one.
RUN_ID_ENV = "MLCHECK_RUN_ID"


@dataclass(frozen=True)
class OptionSpec:
    name: str
    metavar: str
    default: str | None
    help: str

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


GATE_OPTIONS = (
    OptionSpec(
        "model",
        "URI",
        None,
        "model to gate: 'demo' (the bundled XGBoost demo, trained on first use), a local MLflow "
        "model directory, models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/PATH "
        "(default: demo, unless both --reference and --current are given: then the data "
        "alone is gated, and only the data gates decide: drift and schema)",
    ),
    OptionSpec(
        "reference",
        "PATH",
        None,
        "reference data (CSV or Parquet; a folder or glob of Parquet partitions) the current "
        "data is compared with; "
        "default: the demo reference data when --model is demo",
    ),
    OptionSpec(
        "current",
        "PATH",
        None,
        "current, labelled data (CSV or Parquet; a folder or glob of Parquet partitions; a "
        "capture folder of mlcheck serve --capture) the model is judged on; "
        "default: the demo current data when --model is demo",
    ),
    OptionSpec(
        "target", "COLUMN", None, "label column of the data (default: the policy's, else 'y')"
    ),
    OptionSpec(
        "task",
        "TASK",
        None,
        "what the model is: auto (from the model and its outputs), binary, multiclass or "
        "regression (default: the policy's [data] task, else auto)",
    ),
    OptionSpec(
        "champion",
        "URI",
        None,
        "model the challenger is compared with (default: models:/NAME@champion when --model is "
        "models:/NAME@ALIAS and that alias exists; else no comparison)",
    ),
    OptionSpec(
        "policy",
        "PATH",
        None,
        "gate policy TOML (default: checks/gates.toml if present, else built-in demo thresholds)",
    ),
    OptionSpec("report-dir", "DIR", "reports", "where reports are written (default: reports)"),
    OptionSpec(
        "stack",
        "BACKEND",
        "auto",
        "real Prometheus and MLflow for the run: auto (containers when a Docker engine "
        "answers, else local processes), containers, processes or off (default: auto)",
    ),
    OptionSpec(
        "engine",
        "ENGINE",
        "auto",
        "where the data gates compute: local (in memory), dask (Parquet partitions summarised "
        "on a Dask cluster: --dask-scheduler, else a local cluster started for the run) or "
        "auto (dask when both data sets are Parquet larger than a quarter of this machine's "
        "memory; default: auto)",
    ),
    OptionSpec(
        "dask-scheduler",
        "ADDRESS",
        None,
        "a running Dask scheduler, e.g. tcp://HOST:8786, for --engine dask (default: a local "
        "cluster of 2 worker processes, 2 GiB each, started and stopped for the run)",
    ),
    OptionSpec(
        "load-workers",
        "N",
        None,
        "locust worker processes for the load gate (default: the policy's [load] workers; 0 = "
        "no workers)",
    ),
    OptionSpec(
        "only",
        "SUITE[,SUITE]",
        None,
        f"run only these of mlcheck's suites: {', '.join(SUITE_NAMES)} (comma-separated; the "
        "policy's [suites] extra do not run); gate.json, summary.md and the terminal then say "
        "partial run (default: every suite)",
    ),
)


def add_gate_options(add: Callable[..., Any], prefix: str, skip: tuple[str, ...] = ()) -> None:
    """Register the gate options with `add` (argparse's add_argument or pytest's addoption)."""
    for spec in GATE_OPTIONS:
        if spec.name in skip:
            continue
        add(
            f"--{prefix}{spec.name}",
            dest=f"{prefix.replace('-', '_')}{spec.dest}",
            metavar=spec.metavar,
            default=spec.default,
            help=spec.help,
        )


@dataclass(frozen=True)
class RunOptions:
    """The parsed gate options of one run."""

    model: str | None = None
    reference: str | None = None
    current: str | None = None
    target: str | None = None
    task: str | None = None
    champion: str | None = None
    policy: str | None = None
    report_dir: str = "reports"
    load_workers: str | None = None
    stack: str = "auto"
    engine: str = "auto"
    dask_scheduler: str | None = None
    only: str | None = None

    @classmethod
    def from_getter(cls, get: Callable[[str], Any], prefix: str = "") -> RunOptions:
        dest_prefix = prefix.replace("-", "_")
        values = {spec.dest: get(f"{dest_prefix}{spec.dest}") for spec in GATE_OPTIONS}
        return cls(**{k: v for k, v in values.items() if v is not None})

    def as_pytest_args(self) -> list[str]:
        args = []
        for spec in GATE_OPTIONS:
            value = getattr(self, spec.dest)
            if value is not None:
                args.append(f"--mlcheck-{spec.name}={value}")
        return args
