"""The containers backend: testcontainers `DockerContainer`s on the host network.

No registry is reachable, so the images are built locally (`mlcheck stack build-images`) and
the reaper (Ryuk) is off; each container is removed by `stop()`, and containers left by a run
that was killed are removed when the next one starts. With host networking there are no
mapped ports, so readiness is polled here rather than with testcontainers' HTTP wait.
The run's work folder is mounted at the same path inside, so one rendered config serves both
backends.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcheck.errors import InfrastructureError
from mlcheck.extras import missing
from mlcheck.stack.images import docker_client, image_exists
from mlcheck.stack.processes import MLFLOW_QUIET_ENV, mlflow_server_args
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
    "ContainerService",
    "ContainersBackend",
    "check_images",
    "remove_orphans",
    "start_mlflow_container",
    "start_prometheus_container",
]

BACKEND = "containers"
OWNER_LABEL = "mlcheck.stack.pid"
BUILD_HINT = "run `mlcheck stack build-images`"


def _disable_reaper() -> None:
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config

    testcontainers_config.ryuk_disabled = True  # its image cannot be pulled without a registry


def check_images(client: Any, *names: str) -> None:
    missing = [name for name in names if not image_exists(client, name)]
    if missing:
        raise InfrastructureError(
            f"image={missing[0]!r} is not on this Docker engine; {BUILD_HINT} "
            "or set [stack] prometheus_image/mlflow_image to images you can pull"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(client: Any) -> int:
    """Remove stack containers whose owning run has died (killed before it could clean up)."""
    removed = 0
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        owner = container.labels.get(OWNER_LABEL, "")
        if owner.isdigit() and not _alive(int(owner)):
            container.remove(force=True)
            removed += 1
    return removed


class ContainerService(Service):
    def __init__(self, name: str, url: str, image: str, command: list[str], mount: Path) -> None:
        super().__init__(name, BACKEND, url)
        _disable_reaper()
        from testcontainers.core.container import DockerContainer

        self.image = image
        self.container: Any = (
            DockerContainer(image)
            .with_command(command)
            .with_volume_mapping(str(mount), str(mount), "rw")
            .with_envs(HOME="/tmp", USER="mlcheck", **MLFLOW_QUIET_ENV)
            .with_kwargs(  # one call: with_kwargs replaces earlier kwargs
                network_mode="host",
                user=f"{os.getuid()}:{os.getgid()}",
                labels={OWNER_LABEL: str(os.getpid()), "mlcheck.stack.service": name},
            )
        )
        self._started = False
        self._last_logs = ""

    def start(self) -> ContainerService:
        try:
            self.container.start()
        except Exception as exc:
            self.stop()
            raise InfrastructureError(
                f"{self.name} container from image={self.image!r} did not start: {exc}"
            ) from exc
        self._started = True
        return self

    def running(self) -> bool:
        if not self._started:
            return False
        try:
            wrapped = self.container.get_wrapped_container()
            wrapped.reload()
            return bool(wrapped.status in ("running", "paused"))  # paused: alive, hung
        except Exception:
            return False

    def logs(self) -> str:
        if not self._started:
            return self._last_logs
        try:
            out, err = self.container.get_logs()
        except Exception:
            return self._last_logs
        return (out + err).decode(errors="replace")

    def stop(self) -> None:
        if not self._started:
            return
        self._last_logs = self.logs()
        self._started = False
        with contextlib.suppress(Exception):  # already gone is fine
            self.container.stop()  # removes it (force), even when it already exited


def start_prometheus_container(
    image: str, config: Path, data_dir: Path, port: int, mount: Path, timeout_s: float = 60
) -> ContainerService:
    started = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [  # arguments of the image's ENTRYPOINT /bin/prometheus (as in prom/prometheus)
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    service = ContainerService("prometheus", f"http://127.0.0.1:{port}", image, command, mount)
    service.start()
    wait_ready(service, "/-/ready", timeout_s, started)
    return service


def start_mlflow_container(
    image: str, store: Path, artifacts: Path, port: int, mount: Path, timeout_s: float = 180
) -> ContainerService:
    started = time.monotonic()
    artifacts.mkdir(parents=True, exist_ok=True)
    command = ["mlflow", *mlflow_server_args(store, artifacts, port)]
    service = ContainerService("mlflow", f"http://127.0.0.1:{port}", image, command, mount)
    service.start()
    wait_ready(service, "/health", timeout_s, started)
    return service


class ContainersBackend:
    """Containers of the policy's images on the local Docker engine."""

    name = BACKEND

    def __repr__(self) -> str:
        return f"<{self.name} backend>"

    def check(self, policy: StackPolicy, services: tuple[str, ...]) -> None:
        absent = missing("stack", "the containers stack backend")
        if absent is not None:  # auto falls back to local processes; containers is exit 2
            raise InfrastructureError(str(absent))
        images = {"prometheus": policy.prometheus_image, "mlflow": policy.mlflow_image}
        check_images(docker_client(), *(images[name] for name in services))

    def remove_orphans(self) -> int:
        return remove_orphans(docker_client())

    def start_prometheus(
        self, policy: StackPolicy, config: Path, work: Path, port: int
    ) -> ContainerService:
        image = policy.prometheus_image
        return start_prometheus_container(image, config, work / PROMETHEUS_DATA, port, work)

    def start_mlflow(self, policy: StackPolicy, work: Path, port: int) -> ContainerService:
        store, artifacts = work / MLFLOW_STORE, work / MLFLOW_ARTIFACTS
        return start_mlflow_container(policy.mlflow_image, store, artifacts, port, work)
