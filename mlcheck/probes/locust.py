"""A bounded locust run against the serving core, as a subprocess (locust patches gevent).

`LoadRun` says what to run; `run_load` runs it and reads back the stats the locustfile wrote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlcheck.errors import InfrastructureError
from mlcheck.extras import missing
from mlcheck.policy import LoadPolicy
from mlcheck.probes.readings import LoadStats

__all__ = ["LoadRun", "run_load"]

#: How long past its run time a locust run may take to stop before it is killed.
STOP_GRACE_S = 60


@dataclass(frozen=True)
class LoadRun:
    """One headless locust run: where to, how hard (`policy`), with which rows, and where the
    reports (`load.html`, `load_*.csv`) and the stats (`load.json`) go."""

    url: str
    policy: LoadPolicy
    out_dir: Path
    locustfile: Path
    policy_file: Path | None = None
    current: Path | None = None
    workers: int = 0

    @property
    def result(self) -> Path:
        return self.out_dir / "load.json"

    def command(self) -> list[str]:
        """The locust command line."""
        policy = self.policy
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(self.locustfile),
            "--headless",
            "--host",
            self.url,
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
            str(self.out_dir / "load.html"),
            "--csv",
            str(self.out_dir / "load"),
            "--mlcheck-result",
            str(self.result),
        ]
        if self.policy_file is not None:
            command += ["--mlcheck-policy", str(self.policy_file)]
        if self.current is not None:
            command += ["--mlcheck-current", str(self.current)]
        if self.workers:
            command += ["--processes", str(self.workers)]
        return command


def run_load(run: LoadRun) -> tuple[LoadStats, int, str]:
    """Run locust; returns its stats, exit code and output. Bounded by the run time + 60 s."""
    absent = missing("load", "the load gate (locust)")  # never imported here: it patches gevent
    if absent is not None:
        raise absent
    run.out_dir.mkdir(parents=True, exist_ok=True)
    run.result.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    limit = run.policy.run_time_s + STOP_GRACE_S
    # its own process group: the workers of --processes stop with it, whatever happens
    process = subprocess.Popen(
        run.command(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(f"locust did not stop within {limit:.0f} s") from exc
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if not run.result.is_file():
        code = process.returncode
        how = f"exited with code {code}"
        if code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        tail = output[-3000:] or "(locust printed nothing)"
        raise InfrastructureError(f"locust {how} and wrote no stats:\n{tail}")
    return LoadStats.from_json(run.result.read_text()), process.returncode, output
