"""Start the run's Prometheus and MLflow with one backend: containers, processes, or off.

`auto` picks containers when a Docker engine answers and the images exist, else local
processes, and the `Stack` says which it picked and why. A backend that was asked for by
name and cannot start raises InfrastructureError naming the fix.
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
from mlcheck.stack.config import render_alert_rules, render_prometheus_config
from mlcheck.stack.services import Service

if TYPE_CHECKING:
    from mlcheck.stack.promql import PrometheusClient

__all__ = ["BACKENDS", "Stack", "choose_backend", "start_stack"]

BACKENDS = ("auto", "containers", "processes", "off")
SERVICES = ("prometheus", "mlflow")


def _check_containers(policy: StackPolicy, services: tuple[str, ...]) -> None:
    from mlcheck.stack.containers import engine_and_images

    images = {"prometheus": policy.prometheus_image, "mlflow": policy.mlflow_image}
    engine_and_images(*(images[name] for name in services))


def _check_processes(services: tuple[str, ...]) -> None:
    from mlcheck.stack.processes import mlflow_executable, prometheus_executable, remove_orphans

    remove_orphans()
    if "prometheus" in services:
        prometheus_executable()
    if "mlflow" in services:
        mlflow_executable()


def choose_backend(
    requested: str, policy: StackPolicy, services: tuple[str, ...] = SERVICES
) -> tuple[str, str]:
    """The backend to use and why; InfrastructureError when the one asked for cannot run."""
    if requested not in BACKENDS:
        raise ConfigError(
            f"--mlcheck-stack={requested!r} is not a stack backend; "
            f"use one of: {', '.join(BACKENDS)}"
        )
    if requested == "off":
        return "off", "--mlcheck-stack=off: the stack gates are skipped"
    if requested == "containers":
        _check_containers(policy, services)
        return "containers", "--mlcheck-stack=containers was asked for"
    if requested == "processes":
        _check_processes(services)
        return "processes", "--mlcheck-stack=processes was asked for"
    try:
        _check_containers(policy, services)
        return "containers", "auto: a Docker engine answers and the stack images exist"
    except InfrastructureError as containers_error:
        try:
            _check_processes(services)
        except InfrastructureError as processes_error:
            raise InfrastructureError(
                "--mlcheck-stack=auto found no way to start the stack. "
                f"containers: {containers_error} processes: {processes_error} "
                "(or pass --mlcheck-stack=off to skip the stack gates)"
            ) from processes_error
        return "processes", f"auto: containers unavailable ({containers_error}); local processes"


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
        from mlcheck.stack.promql import PrometheusClient

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
    backend: str,
    serving_url: str,
    work_dir: Path,
    policy: StackPolicy,
    *,
    gates_url: str | None = None,
    alert_for_s: float | None = None,
    services: tuple[str, ...] = SERVICES,
) -> Stack:
    """Start Prometheus (scraping `serving_url`, and `gates_url` when given) and MLflow.

    `alert_for_s` shortens every alert's `for:` for the run (default: two scrape intervals);
    `services` starts only some of them. Use the result as a context manager.
    """
    chosen, reason = choose_backend(backend, policy, services)
    if chosen == "off":
        raise ConfigError("start_stack(backend='off'): the caller skips the stack instead")
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(chosen, reason, work_dir, serving_url)
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
            started = time.monotonic()
            stack.prometheus = _start_prometheus(chosen, policy, config, work_dir)
            stack.started_s["prometheus"] = round(time.monotonic() - started, 2)
            # ready is not scraping yet: target discovery hands over the first targets after
            # up to 5 s; the gates need a scrape, so the stack is ready once one happened
            stack.prometheus_client().wait_for_scrape(0, timeout_s=60)
            stack.started_s["prometheus_first_scrape"] = round(time.monotonic() - started, 2)
        if "mlflow" in services:
            started = time.monotonic()
            stack.mlflow = _start_mlflow(chosen, policy, work_dir)
            stack.started_s["mlflow"] = round(time.monotonic() - started, 2)
    except BaseException:
        with contextlib.suppress(InfrastructureError):  # the start error is the one to report
            stack.stop()
        raise
    return stack


def _start_prometheus(backend: str, policy: StackPolicy, config: Path, work: Path) -> Service:
    data = work / "prometheus-data"
    port = free_port()
    if backend == "containers":
        from mlcheck.stack.containers import start_prometheus_container

        return start_prometheus_container(policy.prometheus_image, config, data, port, work)
    from mlcheck.stack.processes import start_prometheus_process

    return start_prometheus_process(config, data, port, work)


def _start_mlflow(backend: str, policy: StackPolicy, work: Path) -> Service:
    store, artifacts = work / "mlflow.db", work / "mlflow-artifacts"
    port = free_port()
    if backend == "containers":
        from mlcheck.stack.containers import start_mlflow_container

        return start_mlflow_container(policy.mlflow_image, store, artifacts, port, work)
    from mlcheck.stack.processes import start_mlflow_process

    return start_mlflow_process(store, artifacts, port, work)
