"""How long each of a run's loads took, and the loads that failed, shared by the run's parts
(`RunModel`, `Data`, `Scores`): a load is timed once and, when it fails, not tried again."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from mlcheck.errors import MlcheckError

__all__ = ["Loads", "timed"]


@dataclass
class Loads:
    """Seconds each input took to load or compute (model, current, scores, ...), and the
    error of each load that failed."""

    timings: dict[str, float] = field(default_factory=dict)
    failures: dict[str, MlcheckError] = field(default_factory=dict)
    nested: float = 0.0  # seconds of the loads the running one set off


class _HasLoads(Protocol):
    loads: Loads


_S = TypeVar("_S", bound=_HasLoads)
_T = TypeVar("_T")


def timed(load: Callable[[_S], _T]) -> Callable[[_S], _T]:
    """Record in `loads.timings` the seconds `load` took, less the loads it set off (scoring
    the current data first reads it: that time is the read's, not the scoring's).

    A load that failed is not tried again in the run: every gate that needs it gets the same
    error at once (a registry that never answers, a Dask scheduler that refuses, would
    otherwise be waited on again by each gate)."""
    name = load.__name__

    @functools.wraps(load)
    def timed_load(self: _S) -> _T:
        loads = self.loads
        failed = loads.failures.get(name)
        if failed is not None:
            raise failed.with_traceback(None)
        started, outer = time.perf_counter(), loads.nested
        loads.nested = 0.0
        try:
            return load(self)
        except MlcheckError as exc:
            loads.failures[name] = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            loads.timings[name] = elapsed - loads.nested
            loads.nested = outer + elapsed

    return timed_load
