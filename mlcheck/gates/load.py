"""Load gates: locust's measured p95/p99 latency, failure ratio and throughput vs the policy.

Locust patches the standard library with gevent, so it always runs as a subprocess
(`run_locust`); the locustfile (`suites/load.py`) calls `load_gates` itself to print each
threshold and set its exit code, and writes the stats this module reads back.
Locust's percentiles are bucketed (rounded response times), so they are coarser than exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlcheck.errors import InfrastructureError
from mlcheck.policy import LoadPolicy
from mlcheck.results import Comparison, GateResult

if TYPE_CHECKING:
    from mlcheck.inputs import GateInputs

__all__ = ["LOCUSTFILE", "LoadStats", "load_for_run", "load_gates", "locust_command", "run_locust"]

LOCUSTFILE = Path("suites") / "load.py"


@dataclass(frozen=True)
class LoadStats:
    """What one locust run measured, over every request it sent."""

    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float
    users: int = 0
    workers: int = 0

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadStats:
        return cls(**json.loads(text))


def load_gates(stats: LoadStats, policy: LoadPolicy) -> list[GateResult]:
    """p95, p99, failure ratio and requests per second, each against its threshold."""
    if stats.requests == 0:
        return [
            GateResult.error(
                "load.locust",
                "locust sent no request: check --host and that the serving core answers",
                metric="requests",
            )
        ]
    measured = asdict(stats)
    checks = (
        ("load.p95", "p95_ms", stats.p95_ms, policy.p95_ms, Comparison.LE),
        ("load.p99", "p99_ms", stats.p99_ms, policy.p99_ms, Comparison.LE),
        (
            "load.failures",
            "failure_ratio",
            stats.failure_ratio,
            policy.max_failure_ratio,
            Comparison.LE,
        ),
        ("load.throughput", "rps", stats.rps, policy.min_rps, Comparison.GE),
    )
    return [GateResult.judged(*check, details=measured) for check in checks]


def locust_command(
    url: str,
    policy: LoadPolicy,
    report_dir: Path,
    result: Path,
    policy_file: Path | None = None,
    current: Path | None = None,
    workers: int | None = None,
    locustfile: Path = LOCUSTFILE,
) -> list[str]:
    """The headless locust command line for one bounded run."""
    workers = policy.workers if workers is None else workers
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        url,
        "-u",
        str(policy.users),
        "-r",
        str(policy.spawn_rate),
        "-t",
        f"{policy.run_time_s:g}s",
        "--stop-timeout",
        "5",
        "--only-summary",
        "--html",
        str(report_dir / "load.html"),
        "--csv",
        str(report_dir / "load"),
        "--mlcheck-result",
        str(result),
    ]
    if policy_file is not None:
        command += ["--mlcheck-policy", str(policy_file)]
    if current is not None:
        command += ["--mlcheck-current", str(current)]
    if workers:
        command += ["--processes", str(workers)]
    return command


def run_locust(command: list[str], result: Path, run_time_s: float) -> tuple[LoadStats, int, str]:
    """Run locust; returns its stats, exit code and output. Bounded by the run time + 60 s."""
    result.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=run_time_s + 60, env=env
        )
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"locust did not stop within {run_time_s + 60:.0f} s") from exc
    output = done.stdout + done.stderr
    if not result.is_file():
        raise InfrastructureError(
            f"locust exited with code {done.returncode} and wrote no stats:\n{output[-3000:]}"
        )
    return LoadStats.from_json(result.read_text()), done.returncode, output


def load_for_run(url: str, inputs: GateInputs, out_dir: Path) -> tuple[LoadStats, int, str]:
    """The run's `[load]` against `url` with the run's policy, current rows and workers.

    The current data is read first, so unreadable data is the run's error (exit 2), not a
    locust that silently sends nothing.
    """
    inputs.current  # noqa: B018 - raises DataError naming the file
    out_dir.mkdir(parents=True, exist_ok=True)
    source = Path(inputs.policy.source)
    command = locust_command(
        url,
        inputs.policy.load,
        out_dir,
        out_dir / "load.json",
        policy_file=source if source.is_file() else None,
        current=inputs.data_path("current"),
        workers=inputs.load_workers,
    )
    return run_locust(command, out_dir / "load.json", inputs.policy.load.run_time_s)
