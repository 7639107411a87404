"""One description of a served model, carried from the policy to `mlcheck serve` and its workers.

The plugin builds a `ServingConfig` from the policy, `ServedModel` turns it into `mlcheck serve`
arguments (`to_args`), the command puts it in the environment (`to_env`) and each uvicorn worker
reads it back (`from_env`): the same values at every step, checked once when it is made.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from mlcheck.errors import ConfigError
from mlcheck.serving.logs import LOG_FORMATS
from mlcheck.stats.tasks import TASK_CHOICES, TaskChoice

__all__ = ["ENV_PREFIX", "ServingConfig"]

ENV_PREFIX = "MLCHECK_SERVE_"
#: A host name, an IPv4 address or `*.domain` (its subdomains); an IPv6 address is checked apart.
_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9_.-]*[a-z0-9])?")


def _is_host(host: str) -> bool:
    if ":" not in host:
        return _HOST.fullmatch(host) is not None
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ServingConfig:
    """What to serve and how: the model (a URI or a local model directory), the schema that
    requests must also satisfy (for a model without a signature, the only one; `target` is its
    label column, never a request field), the task (`auto`: what the model is), the decision
    threshold, the request limits (rows, body size, the seconds a request's head and its body
    may take to arrive), the workers, the log format, how often a registry alias is
    followed (`reload_every_s`, 0: only on POST /model/reload) and the Host headers a request
    may carry (`allowed_hosts`; empty: any)."""

    model: str
    schema: str | None = None
    target: str | None = None
    decision_threshold: float = 0.5
    max_rows: int = 1000
    max_body_bytes: int = 1_048_576
    workers: int = 1
    body_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    task: TaskChoice = "auto"
    log_format: str = "text"  # json: one JSON line per request and server event (logs.py)
    reload_every_s: float = 0.0  # follow a registry alias every so many seconds (0: never)
    capture_dir: str | None = None  # append the served rows to Parquet files here
    allowed_hosts: tuple[str, ...] = ()  # Host headers served (no port; `*.domain`); (): any

    def __post_init__(self) -> None:
        hosts = tuple(h.strip().lower().strip("[]") for h in self.allowed_hosts if h.strip())
        for host in hosts:
            if not _is_host(host):
                raise ConfigError(
                    f"--allowed-hosts has {host!r}, which is not a host name; give names or "
                    "addresses without a port, separated by commas (example.com,*.example.com,"
                    "127.0.0.1)"
                )
        object.__setattr__(self, "allowed_hosts", hosts)
        if not self.model:
            raise ConfigError("--model='' is empty; pass a model URI or an MLflow model directory")
        if self.schema is not None and not Path(self.schema).is_file():
            raise ConfigError(
                f"--schema={self.schema!r} does not exist; pass a .py file defining SCHEMA or a "
                "pandera .yaml file"
            )
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"--log-format={self.log_format!r} is not a log format; use one of: "
                f"{', '.join(LOG_FORMATS)}"
            )
        if self.task not in TASK_CHOICES:
            raise ConfigError(
                f"--task={self.task!r} is not a task; use one of: {', '.join(TASK_CHOICES)}"
            )
        checks = (
            ("decision-threshold", self.decision_threshold, 0.0, 1.0),
            ("max-rows", self.max_rows, 1, 1_000_000),
            ("max-body-bytes", self.max_body_bytes, 1024, 1 << 30),
            ("workers", self.workers, 1, 64),
            ("body-timeout-s", self.body_timeout_s, 0.1, 600),
            ("header-timeout-s", self.header_timeout_s, 0.1, 600),
        )
        if self.reload_every_s and not 1 <= self.reload_every_s <= 86_400:
            raise ConfigError(
                f"--reload-every={self.reload_every_s:g}s is out of range; allowed: 1s to 24h "
                "(or 0: never)"
            )
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ConfigError(f"--{name}={value!r} is out of range; allowed: [{low}, {high}]")

    def to_args(self) -> list[str]:
        """The `mlcheck serve` options that make the same config."""
        args = [
            "--model",
            self.model,
            "--decision-threshold",
            repr(self.decision_threshold),
            "--max-rows",
            str(self.max_rows),
            "--max-body-bytes",
            str(self.max_body_bytes),
            "--workers",
            str(self.workers),
            "--body-timeout-s",
            repr(self.body_timeout_s),
            "--header-timeout-s",
            repr(self.header_timeout_s),
            "--task",
            self.task,
            "--log-format",
            self.log_format,
            "--reload-every",
            f"{self.reload_every_s!r}s",
        ]
        args += ["--schema", self.schema] if self.schema else []
        args += ["--capture", self.capture_dir] if self.capture_dir else []
        args += ["--allowed-hosts", ",".join(self.allowed_hosts)] if self.allowed_hosts else []
        return args + (["--target", self.target] if self.target else [])

    def to_env(self) -> dict[str, str]:
        """Environment variables `from_env` reads back (in every uvicorn worker)."""
        return {
            ENV_PREFIX + f.name.upper(): (
                "" if value is None else ",".join(value) if isinstance(value, tuple) else str(value)
            )
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingConfig:
        environ = os.environ if environ is None else environ
        model = environ.get(ENV_PREFIX + "MODEL")
        if not model:
            raise ConfigError(
                f"{ENV_PREFIX}MODEL is not set; start the server with `mlcheck serve --model URI`"
            )
        defaults = cls(model=model)
        values: dict[str, object] = {"model": model}
        for f in fields(cls):
            text = environ.get(ENV_PREFIX + f.name.upper())
            if f.name == "model" or text is None:
                continue
            default = getattr(defaults, f.name)
            try:
                optional = f.name in ("schema", "target", "capture_dir")
                if isinstance(default, tuple):
                    values[f.name] = tuple(text.split(",")) if text else ()
                else:
                    values[f.name] = (text or None) if optional else type(default)(text)
            except ValueError as exc:
                raise ConfigError(
                    f"{ENV_PREFIX}{f.name.upper()}={text!r} is not a {type(default).__name__}"
                ) from exc
        return cls(**values)  # type: ignore[arg-type]
