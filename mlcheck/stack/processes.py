"""The processes backend: Debian's `prometheus` and this environment's `mlflow server`.

Each service leads its own process group and leaves a record in OWNERS_DIR while it runs, so
the services of a run that was killed are stopped when the next one starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlcheck.errors import InfrastructureError
from mlcheck.stack.services import (
    MLFLOW_ARTIFACTS,
    MLFLOW_STORE,
    PROMETHEUS_DATA,
    Service,
    wait_ready,
)

if TYPE_CHECKING:
    from mlcheck.policy import StackPolicy

__all__ = [
    "ProcessService",
    "ProcessesBackend",
    "mlflow_executable",
    "prometheus_executable",
    "remove_orphans",
    "start_mlflow_process",
    "start_prometheus_process",
]

BACKEND = "processes"
#: One file per running service: a run killed before its cleanup is found by the next one.
OWNERS_DIR = Path(tempfile.gettempdir()) / "mlcheck-stack-processes"


def _group_members(pgid: int) -> list[int]:
    """Pids of the processes in group `pgid` (from /proc; empty where there is none)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def remove_orphans() -> int:
    """Kill the process groups of services whose owning run died without stopping them."""
    removed = 0
    for record in OWNERS_DIR.glob("*.json"):
        try:
            data = json.loads(record.read_text())
            owner, pgid, name = int(data["owner"]), int(data["pgid"]), str(data["name"])
        except (OSError, ValueError, KeyError):
            record.unlink(missing_ok=True)
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(owner, 0)
            continue  # its run is alive
        members = _group_members(pgid)
        if any(name in _cmdline(pid) or "uvicorn" in _cmdline(pid) for pid in members):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
                removed += 1
        record.unlink(missing_ok=True)
    return removed


def prometheus_executable() -> Path:
    found = shutil.which("prometheus")
    if found is None:
        raise InfrastructureError(
            "the processes backend needs a `prometheus` binary on PATH; "
            "apt-get install prometheus (or run scripts/stack-setup.sh as root)"
        )
    return Path(found)


def mlflow_executable() -> Path:
    """`mlflow` beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "mlflow"
    if beside.is_file():
        return beside
    found = shutil.which("mlflow")
    if found is None:
        raise InfrastructureError(
            "the processes backend needs the `mlflow` command; pip install mlflow into the "
            f"environment of {sys.executable}"
        )
    return Path(found)


class ProcessService(Service):
    """A local process in its own process group, so stopping it stops its workers too."""

    def __init__(
        self,
        name: str,
        url: str,
        command: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name, BACKEND, url)
        self.command = command
        self.log_path = log_path
        with log_path.open("wb") as out:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        OWNERS_DIR.mkdir(parents=True, exist_ok=True)
        self._record = OWNERS_DIR / f"{os.getpid()}-{self.process.pid}.json"
        self._record.write_text(
            json.dumps({"owner": os.getpid(), "pgid": self.process.pid, "name": name})
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        self._record.unlink(missing_ok=True)
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)  # the group this service leads, nothing else
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # workers left after the leader exited


def start_prometheus_process(
    config: Path, data_dir: Path, port: int, log_dir: Path, timeout_s: float = 60
) -> ProcessService:
    started = time.monotonic()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(prometheus_executable()),
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    service = ProcessService("prometheus", url, command, log_dir / "prometheus.log")
    wait_ready(service, "/-/ready", timeout_s, started)
    return service


def mlflow_server_args(store: Path, artifacts: Path, port: int) -> list[str]:
    """`mlflow server` arguments shared by both backends (the same paths in and out of Docker)."""
    return [
        "server",
        "--backend-store-uri",
        f"sqlite:///{store.resolve()}",  # an absolute path: four slashes
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts.resolve()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        # MLflow >= 3.5 rejects Host headers it does not know
        "--allowed-hosts",
        f"127.0.0.1:{port},localhost:{port},127.0.0.1,localhost",
    ]


#: Keeps MLflow (server and client) from calling home; the run stays on loopback.
MLFLOW_QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def start_mlflow_process(
    store: Path, artifacts: Path, port: int, log_dir: Path, timeout_s: float = 180
) -> ProcessService:
    started = time.monotonic()
    url = f"http://127.0.0.1:{port}"
    artifacts.mkdir(parents=True, exist_ok=True)
    executable = mlflow_executable()
    env = dict(os.environ, **MLFLOW_QUIET_ENV)
    # mlflow server starts uvicorn/gunicorn by name: the venv's bin must be on PATH
    env["PATH"] = f"{executable.parent}{os.pathsep}{env.get('PATH', '')}"
    command = [str(executable), *mlflow_server_args(store, artifacts, port)]
    service = ProcessService("mlflow", url, command, log_dir / "mlflow.log", env=env)
    wait_ready(service, "/health", timeout_s, started)
    return service


class ProcessesBackend:
    """Local processes of the `prometheus` on PATH and the `mlflow` of this environment."""

    name = BACKEND

    def __repr__(self) -> str:
        return f"<{self.name} backend>"

    def check(self, policy: StackPolicy, services: tuple[str, ...]) -> None:
        if "prometheus" in services:
            prometheus_executable()
        if "mlflow" in services:
            mlflow_executable()

    def remove_orphans(self) -> int:
        return remove_orphans()

    def start_prometheus(
        self, policy: StackPolicy, config: Path, work: Path, port: int
    ) -> ProcessService:
        return start_prometheus_process(config, work / PROMETHEUS_DATA, port, work)

    def start_mlflow(self, policy: StackPolicy, work: Path, port: int) -> ProcessService:
        return start_mlflow_process(work / MLFLOW_STORE, work / MLFLOW_ARTIFACTS, port, work)
