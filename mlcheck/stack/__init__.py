"""Real Prometheus and MLflow for a gate run: containers (testcontainers) or local processes.

`choose_backend` picks a `Backend` from `BACKENDS` once per run (`auto`: containers, else
processes) and says why, without changing anything; `start_stack` starts the services with
it and returns a `Stack`, a context manager that stops every `Service` on leaving.
The container images are made by `mlcheck stack build-images` (`mlcheck.stack.images`), and
`mlcheck.stack.session` ties a stack to one pytest session. Heavy parts import lazily.
"""

from __future__ import annotations

from mlcheck.stack.backends import BACKENDS, Backend
from mlcheck.stack.launch import Stack, choose_backend, start_stack
from mlcheck.stack.services import Service

__all__ = ["BACKENDS", "Backend", "Service", "Stack", "choose_backend", "start_stack"]
