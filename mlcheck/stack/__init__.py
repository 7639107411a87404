"""Real Prometheus and MLflow for a gate run: containers (testcontainers) or local processes.

`start_stack` starts them (`auto` picks the backend and says why), `build_images` makes the
container images without a registry, `PrometheusClient` and `prometheus_gates` read the
serving core's metrics back after a load, `log_gate_run` logs a run to MLflow, and
`StackSession` ties them to one pytest session. Heavy parts import lazily.
"""

from __future__ import annotations

from mlcheck.stack.launch import BACKENDS, Stack, choose_backend, start_stack
from mlcheck.stack.services import Service

__all__ = ["BACKENDS", "Service", "Stack", "choose_backend", "start_stack"]
