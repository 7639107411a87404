"""Start the run's Prometheus and MLflow with one backend: containers, processes, or off.

`choose_backend` decides once per run, without changing anything: `auto` picks containers
when a Docker engine answers and the images exist, else local processes, and says why; a
backend asked for by name that cannot run raises InfrastructureError naming the fix.
`start_stack` then starts the services with the chosen backend.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from mlcheck.errors import ConfigError, InfrastructureError
from mlcheck.policy import StackPolicy
from mlcheck.serving.process import free_port
from mlcheck.stack.backends import BACKENDS, Backend
from mlcheck.stack.config import render_alert_rules, render_prometheus_config
from mlcheck.stack.services import Service

if TYPE_CHECKING:
    from mlcheck.probes.prometheus import PrometheusClient

__all__ = ["BACKENDS", "CHOICES", "SERVICES", "Backend", "Stack", "choose_backend", "start_stack"]

#: The values of `--mlcheck-stack`.
CHOICES = ("auto", *BACKENDS, "off")
SERVICES = ("prometheus", "mlflow")


def _check_services(services: tuple[str, ...]) -> None:
    unknown = [name for name in services if name not in SERVICES]
    if unknown:
        raise ConfigError(
            f"services={services!r} names {unknown[0]!r}, which is not a stack service; "
            f"use some of: {', '.join(SERVICES)}"
        )


def choose_backend(
    requested: str, policy: StackPolicy, services: tuple[str, ...] = SERVICES
) -> tuple[Backend | None, str]:
    """The backend to use (None for `off`) and why; changes nothing on the machine.

    InfrastructureError when the one asked for cannot run, ConfigError for an unknown name.
    """
    _check_services(services)
    if requested == "off":
        return None, "--mlcheck-stack=off: the stack gates are skipped"
    if requested in BACKENDS:
        backend = BACKENDS[requested]
        backend.check(policy, services)
        return backend, f"--mlcheck-stack={requested} was asked for"
    if requested != "auto":
        raise ConfigError(
            f"--mlcheck-stack={requested!r} is not a stack backend; "
            f"use one of: {', '.join(CHOICES)}"
        )
    containers, processes = BACKENDS["containers"], BACKENDS["processes"]
    try:
        containers.check(policy, services)
        return containers, "auto: a Docker engine answers and the stack images exist"
    except InfrastructureError as containers_error:
        try:
            processes.check(policy, services)
        except InfrastructureError as processes_error:
            raise InfrastructureError(
                "--mlcheck-stack=auto found no way to start the stack. "
                f"containers: {containers_error} processes: {processes_error} "
                "(or pass --mlcheck-stack=off to skip the stack gates)"
            ) from processes_error
        return processes, f"auto: containers unavailable ({containers_error}); local processes"


@dataclass
class Stack:
    """The run's services. A context manager: leaving it stops every service."""

    backend: str
    reason: str
    work_dir: Path
    serving_url: str
    prometheus: Service | None = None
    mlflow: Service | None = None
    alert_for_s: float = 0.0  # the `for:` of every alert rule in this run
    started_s: dict[str, float] = field(default_factory=dict)

    @property
    def services(self) -> list[Service]:
        return [s for s in (self.prometheus, self.mlflow) if s is not None]

    def require(self, name: str) -> Service:
        service = getattr(self, name)
        if service is None:
            raise InfrastructureError(f"the stack was started without {name}")
        return service

    def prometheus_client(self, timeout_s: float = 5.0) -> PrometheusClient:
        from mlcheck.probes.prometheus import PrometheusClient

        service = self.require("prometheus")
        return PrometheusClient(service.url, service, timeout_s)

    def describe(self) -> str:
        parts = ", ".join(f"{s.name} {s.url} (ready in {s.ready_s} s)" for s in self.services)
        return f"stack backend {self.backend} ({self.reason}): {parts}"

    def save_logs(self, folder: Path) -> None:
        """Each service's log as `<name>.log` in `folder` (a CI artifact)."""
        folder.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            (folder / f"{service.name}.log").write_text(service.logs(), encoding="utf-8")

    def stop(self) -> None:
        errors = []
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as exc:  # stop the others anyway
                errors.append(f"{service.name}: {exc}")
        if errors:
            raise InfrastructureError("stopping the stack failed: " + "; ".join(errors))

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_stack(
    backend: Backend,
    reason: str,
    serving_url: str,
    work_dir: Path,
    policy: StackPolicy,
    *,
    gates_url: str | None = None,
    alert_for_s: float | None = None,
    services: tuple[str, ...] = SERVICES,
) -> Stack:
    """Start Prometheus (scraping `serving_url`, and `gates_url` when given) and MLflow.

    `backend` and `reason` come from `choose_backend`. The services of earlier runs that were
    killed are removed first. `alert_for_s` shortens every alert's `for:` for the run
    (default: two scrape intervals); `services` starts only some of them. Use the result as a
    context manager.
    """
    if backend is None:
        raise ConfigError(
            "start_stack(backend=None): choose_backend returned None for --mlcheck-stack=off, "
            "so the caller skips the stack instead of starting it"
        )
    _check_services(services)
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    backend.remove_orphans()
    stack = Stack(backend.name, reason, work_dir, serving_url)
    try:
        if "prometheus" in services:
            stack.alert_for_s = (
                alert_for_s if alert_for_s is not None else 2 * policy.scrape_interval_s
            )
            rules = render_alert_rules(work_dir / "alerts.yml", stack.alert_for_s)
            config = render_prometheus_config(
                work_dir / "prometheus.yml",
                serving_url,
                rules,
                policy.scrape_interval_s,
                gates_url=gates_url,
            )
            prometheus_started = time.monotonic()
            stack.prometheus = backend.start_prometheus(policy, config, work_dir, free_port())
            stack.started_s["prometheus"] = round(time.monotonic() - prometheus_started, 2)
        if "mlflow" in services:
            started = time.monotonic()
            stack.mlflow = backend.start_mlflow(policy, work_dir, free_port())
            stack.started_s["mlflow"] = round(time.monotonic() - started, 2)
        if stack.prometheus is not None:
            # ready is not scraping yet: target discovery hands over the first targets after
            # up to 5 s (MLflow starts meanwhile); the gates need a scrape, so the stack is
            # ready once one happened
            stack.prometheus_client().wait_for_scrape(0, timeout_s=60)
            waited = time.monotonic() - prometheus_started
            stack.started_s["prometheus_first_scrape"] = round(waited, 2)
    except BaseException:
        with contextlib.suppress(InfrastructureError):  # the start error is the one to report
            stack.stop()
        raise
    return stack
