"""A started service (Prometheus or MLflow), whichever backend started it."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod

from mlcheck.errors import InfrastructureError

__all__ = ["MLFLOW_ARTIFACTS", "MLFLOW_STORE", "PROMETHEUS_DATA", "Service", "wait_ready"]

#: Where the services keep their data inside the run's work folder, on either backend.
PROMETHEUS_DATA = "prometheus-data"
MLFLOW_STORE = "mlflow.db"
MLFLOW_ARTIFACTS = "mlflow-artifacts"


class Service(ABC):
    """A running service: its base `url`, its `logs()`, and `stop()` (safe to call twice)."""

    def __init__(self, name: str, backend: str, url: str) -> None:
        self.name = name
        self.backend = backend
        self.url = url
        self.ready_s: float | None = None  # seconds from start to ready

    @abstractmethod
    def running(self) -> bool:
        """Whether the process or container is still alive (not whether it answers)."""

    @abstractmethod
    def logs(self) -> str: ...

    @abstractmethod
    def stop(self) -> None: ...

    def log_tail(self, chars: int = 2000) -> str:
        try:
            text = self.logs()
        except Exception as exc:  # the logs are a courtesy in an error message
            return f"(its logs could not be read: {exc})"
        return text[-chars:] if text else "(no output)"

    def describe(self) -> str:
        return f"{self.name} ({self.backend}) at {self.url}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def wait_ready(service: Service, path: str, timeout_s: float, started: float) -> float:
    """Poll `service.url + path` until it answers 200; returns seconds since `started`.

    Raises InfrastructureError (after stopping the service) when it exits or is not ready in
    time, with the end of its logs.
    """
    deadline = started + timeout_s
    url = service.url + path
    while time.monotonic() < deadline:
        if not service.running():
            logs = service.log_tail()
            service.stop()
            raise InfrastructureError(
                f"{service.describe()} exited before it was ready; its log ends:\n{logs}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    service.ready_s = round(time.monotonic() - started, 2)
                    return service.ready_s
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    logs = service.log_tail()
    service.stop()
    raise InfrastructureError(
        f"{service.describe()} did not answer {path} within {timeout_s:.0f} s; its log ends:\n"
        f"{logs}"
    )
