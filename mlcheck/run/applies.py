"""When a gate applies to a run: the checks the model's and the data's steps share. Each
raises `NotApplicable` with the reason the suite reports as SKIP."""

from __future__ import annotations

from mlcheck.engine.dask import DASK_SKIPS
from mlcheck.errors import NotApplicable
from mlcheck.run.data import Data
from mlcheck.run.spec import RunSpec

__all__ = ["in_memory", "needs_labels"]


def needs_labels(data: Data) -> None:
    """The gate scores the current labels: not before they are there."""
    if data.missing_labels:
        raise NotApplicable(data.missing_labels)


def in_memory(spec: RunSpec, gate: str) -> None:
    """Gates that need the rows together do not decide over partitions (yet)."""
    if spec.engine == "dask":
        raise NotApplicable(DASK_SKIPS[gate])
