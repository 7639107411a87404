"""The ways to run the stack's services, behind one `Backend` protocol.

`check` only looks (an engine, images, executables); everything that changes the machine,
such as removing what a killed run left behind, happens when the stack starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlcheck.stack.containers import ContainersBackend
from mlcheck.stack.processes import ProcessesBackend

if TYPE_CHECKING:
    from mlcheck.policy import StackPolicy
    from mlcheck.stack.services import Service

__all__ = ["BACKENDS", "Backend"]


class Backend(Protocol):
    """Starts Prometheus and MLflow one way; `name` is what `--mlcheck-stack` calls it."""

    name: str

    def check(self, policy: StackPolicy, services: tuple[str, ...]) -> None:
        """InfrastructureError naming the fix when `services` cannot start; no side effects."""

    def remove_orphans(self) -> int:
        """Remove the services of earlier runs that were killed; how many it removed."""

    def start_prometheus(self, policy: StackPolicy, config: Path, work: Path, port: int) -> Service:
        """Prometheus with `config` on 127.0.0.1:`port`, ready; its data under `work`."""

    def start_mlflow(self, policy: StackPolicy, work: Path, port: int) -> Service:
        """MLflow on 127.0.0.1:`port`, ready; its store and artifacts under `work`."""


BACKENDS: dict[str, Backend] = {
    "containers": ContainersBackend(),
    "processes": ProcessesBackend(),
}
