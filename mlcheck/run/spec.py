"""What a run is, resolved from its options before anything loads: the model it gates (or
none: the data alone), its policy, the suites `--suites` names, where its data is, the task
asked for, the engine and the load's workers. The `mlcheck gate` process finds its suites
here without loading the run's inputs (models, data, Dask).

The bundled demo is resolved here, at the edge: `--model demo` becomes the demo's model
directory and data files, and below this module it is a model like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlcheck.errors import ConfigError, MlcheckError
from mlcheck.models.demo import DEMO, demo_data_path, demo_model_or
from mlcheck.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from mlcheck.resources import resource
from mlcheck.run.options import RunOptions
from mlcheck.run.selection import SUITE_CHOICES

if TYPE_CHECKING:
    from mlcheck.data.partitions import Engine

__all__ = ["RunSpec"]


@dataclass(frozen=True)
class RunSpec:
    """A run's options resolved once; the policy is read, and `--engine auto` resolved, on first
    use."""

    options: RunOptions

    @property
    def model_uri(self) -> str | None:
        """The model to gate: --model; else the demo, unless both data files are given: then
        None, a run on data alone (the data gates decide, the model's gates cannot)."""
        both = self.options.reference is not None and self.options.current is not None
        return self.options.model or (None if both else DEMO)

    @property
    def is_demo(self) -> bool:
        """Whether the run gates the bundled demo model."""
        return self.model_uri == DEMO

    def model_location(self, uri: str) -> str:
        """Where the model `uri` loads from: the demo's model directory (trained on first use)
        for `demo`, else `uri`."""
        return demo_model_or(uri)

    @cached_property
    def policy(self) -> Policy:
        """`--policy`, else `checks/gates.toml` here, else the demo's policy for the demo model
        (carried by mlcheck), else the built-in defaults."""
        given = self.options.policy
        if given is None and not DEFAULT_POLICY_PATH.is_file() and self.is_demo:
            given = str(resource("checks", "gates.toml"))
        return load_policy(given)

    def suites(self, which: str) -> list[str]:
        """The suite paths of `--suites builtin|extra|all`: mlcheck's own, the policy's
        `[suites] extra`, or both."""
        if which not in SUITE_CHOICES:
            raise ConfigError(
                f"--suites={which!r} is not a choice; use one of: {', '.join(SUITE_CHOICES)}"
            )
        extra = [str(path) for path in self.policy.suites.extra]
        missing = [path for path in extra if not Path(path).exists()]
        if missing:
            raise ConfigError(
                f"[suites] extra names {missing[0]!r}, which does not exist; paths there are "
                f"relative to the policy file ({self.policy.source})"
            )
        if which == "extra" and not extra:
            raise ConfigError(
                f"--suites=extra but the policy ({self.policy.source}) names no [suites] extra"
            )
        builtin = [str(resource("suites"))]
        return {"builtin": builtin, "extra": extra, "all": builtin + extra}[which]

    @property
    def requested_task(self) -> str:
        """--task, else the policy's `[data] task` (default auto)."""
        return self.options.task or self.policy.task

    def data_path(self, kind: str) -> Path:
        """Path of the `reference` or `current` data: the option, or the demo's for `demo`."""
        given = getattr(self.options, kind)
        if given:
            return Path(given)
        if self.is_demo:
            return demo_data_path(kind)
        raise ConfigError(
            f"--{kind} is required when --model={self.model_uri!r} is not 'demo'; "
            f"pass the {kind} data as a CSV or Parquet file (--mlcheck-{kind} in pytest)"
        )

    def data_location(self, kind: str) -> str:
        """`data_path` as given (a glob or fsspec URL stays as it is)."""
        given = getattr(self.options, kind)
        return str(given) if given else str(self.data_path(kind))

    def partitions(self, kind: str) -> list[str]:
        """The Parquet files of the reference or current data, in order (--engine dask)."""
        from mlcheck.data.partitions import partition_files  # pyarrow, fsspec: on use

        return partition_files(self.data_location(kind), f"--{kind}")

    def data_label(self, kind: str) -> str | None:
        """What report headers call the `reference` or `current` data: the option as given,
        `demo` for the demo's, else None (not given)."""
        return getattr(self.options, kind) or (DEMO if self.is_demo else None)

    @property
    def has_reference(self) -> bool:
        """Whether reference data was given (or comes with the demo)."""
        try:
            self.data_path("reference")
        except ConfigError:
            return False
        return True

    @property
    def current_is_capture(self) -> bool:
        """Whether the current data is a capture folder (`mlcheck serve --capture`)."""
        from mlcheck.data.partitions import is_partitioned  # pyarrow, fsspec: on use

        folder = self.data_path("current")
        return folder.is_dir() and not is_partitioned(str(folder))

    @cached_property
    def engine(self) -> Engine:
        """local or dask: --engine, with auto resolved by the inputs' size (Parquet only)."""
        from mlcheck.data.partitions import (  # pyarrow, fsspec: on use
            AUTO_MEMORY_SHARE,
            ENGINE_CHOICES,
            in_memory_bytes,
            is_parquet,
            memory_bytes,
            partition_files,
        )

        engine, scheduler = self.options.engine, self.options.dask_scheduler
        if engine not in ENGINE_CHOICES:
            raise ConfigError(
                f"--engine={engine!r} is not a choice; use one of: {', '.join(ENGINE_CHOICES)}"
            )
        if scheduler and engine == "local":
            raise ConfigError(
                f"--dask-scheduler={scheduler!r} is given with --engine=local; pass --engine "
                "dask (or auto) to use that cluster, or drop --dask-scheduler"
            )
        if engine != "auto":
            return cast("Engine", engine)  # one of ENGINE_CHOICES, checked above
        try:
            locations = [self.data_location(kind) for kind in ("reference", "current")]
        except ConfigError:  # a data set is missing: the gates that need it say so
            return "local"
        if not all(is_parquet(where) for where in locations):
            return "local"
        if scheduler:
            return "dask"
        size = sum(
            in_memory_bytes(partition_files(where, f"--{kind}"), f"--{kind}")
            for kind, where in zip(("reference", "current"), locations, strict=True)
        )
        return "dask" if size > AUTO_MEMORY_SHARE * memory_bytes() else "local"

    @property
    def load_workers(self) -> int:
        """Locust worker processes: the option, else the policy's `[load] workers`."""
        given = self.options.load_workers
        if given is None:
            return self.policy.load.workers
        if not given.isdigit() or int(given) > 64:
            raise ConfigError(f"--load-workers={given!r} must be a whole number from 0 to 64")
        return int(given)

    def run_params(self) -> dict[str, Any]:
        """What identifies the run for the MLflow log: model URI, data files, policy file."""
        data: dict[str, Path | None] = {}
        for kind in ("reference", "current"):
            try:
                data[kind] = self.data_path(kind)
            except MlcheckError:
                data[kind] = None
        source = Path(self.policy.source)
        return {
            "model": self.model_uri or "none",
            "data": data,
            "policy": source if source.is_file() else None,
        }
