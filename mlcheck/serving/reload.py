"""Follow a registry alias while serving: `mlcheck serve --model models:/NAME@ALIAS
--reload-every 30s` (and `POST /model/reload`) loads the version the alias points to beside
the serving one, checks it, and swaps it in with one assignment.

A request takes the serving model once, when it starts, so a swap never fails or delays it.
A version that does not load, whose inputs differ from the serving version's (its clients'
requests would be refused), or that fails the parity check (the same rows through the
serving path and as a DataFrame must give the same outputs, finite and of the task's shape)
is not swapped in: the old one keeps serving, and the outcome is logged and counted in
`ml_model_reload_total{outcome}`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError, MlcheckError
from mlcheck.features import FeatureKind, FeatureSpec
from mlcheck.models.load import Predictor, load_model
from mlcheck.models.registry import version_of
from mlcheck.stats.tasks import TaskChoice

__all__ = ["ALIAS_URI", "RELOAD_OUTCOMES", "ModelSlot", "Reload", "Reloader", "parse_duration"]

ALIAS_URI = re.compile(r"^models:/([^/@]+)@([\w-]+)$")
RELOAD_OUTCOMES = ("swapped", "unchanged", "load_failed", "rejected", "registry_error")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")

S = TypeVar("S")


def parse_duration(text: str, option: str = "--reload-every") -> float:
    """Seconds in `30s`, `5m`, `1h`, `500ms` or a bare number of seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ConfigError(f"{option}={text!r} is not a duration; write e.g. 30s, 5m or 1h")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


class ModelSlot(Generic[S]):
    """The serving model (`current`, replaced whole) and the last small request's rows, which
    a new version is checked on."""

    def __init__(self, current: S) -> None:
        self.current = current
        self.recent: dict[str, list[Any]] | None = None


@dataclass(frozen=True)
class Reload:
    outcome: str  # one of RELOAD_OUTCOMES
    serving: str | None  # the version serving after this reload
    candidate: str | None = None  # the version the alias pointed to
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "serving": self.serving,
            "candidate": self.candidate,
            "reason": self.reason,
        }


def _probe_rows(features: tuple[FeatureSpec, ...]) -> dict[str, list[Any]]:
    """One valid row when no request was seen yet: the first category, false, or a number in
    the feature's bounds."""
    row: dict[str, list[Any]] = {}
    for spec in features:
        if spec.kind is FeatureKind.CATEGORICAL:
            row[spec.name] = [(spec.categories or ("a",))[0]]
        elif spec.kind is FeatureKind.BOOLEAN:
            row[spec.name] = [False]
        else:
            low = spec.minimum if spec.minimum is not None else 0.0
            value = min(max(0.0, low), spec.maximum if spec.maximum is not None else 0.0)
            row[spec.name] = [int(value) if spec.kind is FeatureKind.INTEGER else value]
    return row


def parity_problem(predictor: Predictor, columns: dict[str, list[Any]]) -> str:
    """Why `predictor` may not serve, judged on `columns` ("" if it may)."""
    try:
        served = predictor.predict(columns)
        framed = predictor.predict(pd.DataFrame(columns))
    except Exception as exc:  # a version that cannot predict must not serve
        return f"it could not predict the probe rows: {type(exc).__name__}: {exc}"[:500]
    if not np.isfinite(served).all():
        return "it returned non-finite outputs on the probe rows"
    if served.shape != framed.shape or not np.allclose(served, framed, rtol=0, atol=1e-6):
        return "its outputs differ between the serving path and a DataFrame of the same rows"
    return ""


class Reloader(Generic[S]):
    """Checks the alias of `uri` and swaps a new version into `slot` (see the module)."""

    def __init__(
        self,
        uri: str,
        task: TaskChoice,
        slot: ModelSlot[S],
        prepare: Callable[[Predictor], S],
        predictor_of: Callable[[S], Predictor],
        features_of: Callable[[S], tuple[FeatureSpec, ...]],
        on_reload: Callable[[Reload, S | None], None],
    ) -> None:
        match = ALIAS_URI.match(uri)
        if match is None:
            raise ConfigError(
                f"--model={uri!r} is not a registry alias, so there is nothing to follow; "
                "serve models:/NAME@ALIAS to reload when the alias moves"
            )
        self.name, self.alias = match.group(1), match.group(2)
        self.task, self.slot, self.prepare = task, slot, prepare
        self.predictor_of, self.features_of, self.on_reload = predictor_of, features_of, on_reload
        self._lock = asyncio.Lock()

    def _serving_version(self) -> str | None:
        return self.predictor_of(self.slot.current).info.version

    async def reload(self) -> Reload:
        """Check the alias once; swap in its version if it moved and the version passes."""
        async with self._lock:
            result, new = await asyncio.to_thread(self._check)
            if result.outcome == "swapped" and new is not None:
                self.slot.current = new  # one assignment: a request has the old or the new
            self.on_reload(result, new if result.outcome == "swapped" else None)
            return result

    def _check(self) -> tuple[Reload, S | None]:
        serving = self._serving_version()
        try:
            candidate = version_of(self.name, self.alias)
        except MlcheckError as exc:
            return Reload("registry_error", serving, None, str(exc)[:500]), None
        if candidate == serving:
            return Reload("unchanged", serving, candidate), None
        try:
            new = self.prepare(load_model(f"models:/{self.name}/{candidate}", self.task))
        except Exception as exc:  # a broken version keeps the old one serving
            why = f"{type(exc).__name__}: {exc}"[:500]
            return Reload("load_failed", serving, candidate, why), None
        features = self.features_of(self.slot.current)
        if self.features_of(new) != features:
            why = "its inputs differ from the serving version's (requests would be refused)"
            return Reload("rejected", serving, candidate, why), None
        problem = parity_problem(self.predictor_of(new), self.slot.recent or _probe_rows(features))
        if problem:
            return Reload("rejected", serving, candidate, problem), None
        return Reload("swapped", candidate, candidate), new

    async def run(self, every_s: float) -> None:
        """Check every `every_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            await self.reload()
