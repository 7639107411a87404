"""Gate results: plain, frozen, serialisable data with one outcome enum and one message format."""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict, cast

from mlcheck.errors import DataError

__all__ = [
    "GATE_JSON_VERSION",
    "NON_FINITE_KEY",
    "Comparison",
    "GateResult",
    "Outcome",
    "RunContext",
    "SuiteResult",
]

GATE_JSON_VERSION = 1

#: The key under a gate's `details` (and the run's `context`) that records the numbers written
#: as null because they were NaN or infinite: JSON pointer -> "nan", "inf" or "-inf".
NON_FINITE_KEY = "non_finite"


def _json_key(key: object) -> str:
    """A mapping key as JSON text (json.dumps refuses some keys, and NaN ones in strict mode)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, numbers.Integral):
        return str(int(key))
    if isinstance(key, numbers.Real) and math.isfinite(float(key)):
        return repr(float(key))
    return str(key)


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _finite(value: Any, pointer: str, record: dict[str, str]) -> Any:
    """`value` as strict JSON data: NaN and ±inf become None and are noted in `record`.

    Numpy scalars become Python numbers, tuples lists, and mapping keys strings.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return number
        record[pointer] = repr(number)  # 'nan', 'inf' or '-inf'
        return None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = _json_key(key)
            out[name] = _finite(item, f"{pointer}/{_pointer_token(name)}", record)
        return out
    if isinstance(value, list | tuple):
        return [_finite(item, f"{pointer}/{i}", record) for i, item in enumerate(value)]
    return value  # anything else is written as str() by the encoder


def _restore(data: dict[str, Any], record: Any) -> None:
    """Put the numbers `_finite` wrote as null back at their JSON pointers (in place).

    A pointer that does not lead to a null, or a text that is not a number, is left alone:
    a hand-edited file reads back with nulls rather than failing.
    """
    if not isinstance(record, Mapping):
        return
    for pointer, text in record.items():
        try:
            number = float(text)
        except (TypeError, ValueError):
            continue
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in str(pointer).split("/")[1:]]
        if not tokens:
            continue
        parent: Any = data
        try:
            for token in tokens[:-1]:
                parent = parent[int(token)] if isinstance(parent, list) else parent[token]
            last: Any = int(tokens[-1]) if isinstance(parent, list) else tokens[-1]
            if parent[last] is None:
                parent[last] = number
        except (KeyError, IndexError, ValueError, TypeError):
            continue


class Outcome(StrEnum):
    """What a gate decided. ERROR means it could not decide (fail closed)."""

    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    ERROR = "ERROR"
    SKIP = "SKIP"

    @property
    def blocks(self) -> bool:
        return self in (Outcome.FAIL, Outcome.ERROR)

    @classmethod
    def when_not_held(cls, policy_word: str) -> Outcome:
        """The outcome of a gate whose condition does not hold, from its policy's
        `outcome = "fail" | "warn"` (the policy checks the word when it is loaded)."""
        return {"fail": cls.FAIL, "warn": cls.WARN}[policy_word]


class Comparison(StrEnum):
    """How a value is held against its threshold."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"
    EQ = "=="

    def holds(self, value: float, threshold: float) -> bool:
        if math.isnan(value):
            return False
        return {
            Comparison.GE: value >= threshold,
            Comparison.GT: value > threshold,
            Comparison.LE: value <= threshold,
            Comparison.LT: value < threshold,
            Comparison.EQ: value == threshold,
        }[self]

    @property
    def higher_is_better(self) -> bool:
        return self in (Comparison.GE, Comparison.GT)


def format_number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    magnitude = abs(value)
    if 0 < magnitude < 1e-3:
        return f"{value:.1e}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: the metric, its value (and interval) against a threshold."""

    name: str
    outcome: Outcome
    metric: str
    value: float | None = None
    threshold: float | None = None
    comparison: Comparison | None = None
    interval: tuple[float, float] | None = None
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.outcome.blocks

    @property
    def message(self) -> str:
        """`<gate>: <metric>=<value> [lo, hi] <op> <threshold>` plus the outcome and reason."""
        text = f"{self.name}: {self.metric}={format_number(self.value)}"
        if self.interval is not None:
            text += f" [{format_number(self.interval[0])}, {format_number(self.interval[1])}]"
        if self.comparison is not None and self.threshold is not None:
            text += f" {self.comparison.value} {format_number(self.threshold)}"
        text += f" {self.outcome.value}"
        if self.reason:
            text += f" ({self.reason})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The gate as strict JSON data (what gate.json holds for it).

        JSON has no NaN or infinity, so a non-finite number anywhere in the gate (value,
        threshold, interval, details at any depth) is written as null, and
        `details["non_finite"]` maps the JSON pointer of each, relative to the gate, to the
        number's text: ``{"/value": "inf", "/details/overall": "nan"}``. The reason and the
        message are kept as they are (the message shows ``inf``/``nan``). `from_dict` puts the
        numbers back. `non_finite` is reserved in `details`.
        """
        record: dict[str, str] = {}
        data: dict[str, Any] = {
            "name": self.name,
            "outcome": self.outcome.value,
            "metric": self.metric,
            "value": _finite(self.value, "/value", record),
            "threshold": _finite(self.threshold, "/threshold", record),
            "comparison": self.comparison.value if self.comparison else None,
            "interval": _finite(self.interval, "/interval", record),
            "reason": self.reason,
            "details": _finite(
                {k: v for k, v in self.details.items() if k != NON_FINITE_KEY}, "/details", record
            ),
            "message": self.message,
        }
        if record:
            data["details"][NON_FINITE_KEY] = record
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """Read `to_dict`'s data; numbers written as null (see `to_dict`) are restored.

        An interval with a null end that is not recorded as non-finite reads as no interval.
        """
        read: dict[str, Any] = copy.deepcopy(dict(data))
        found = read.get("details")
        details: dict[str, Any] = dict(found) if isinstance(found, Mapping) else {}
        read["details"] = details
        _restore(read, details.pop(NON_FINITE_KEY, None))
        data = read
        interval = data.get("interval")
        comparison = data.get("comparison")
        return cls(
            name=data["name"],
            outcome=Outcome(data["outcome"]),
            metric=data["metric"],
            value=data.get("value"),
            threshold=data.get("threshold"),
            comparison=Comparison(comparison) if comparison else None,
            interval=(
                (float(interval[0]), float(interval[1]))
                if interval and interval[0] is not None and interval[1] is not None
                else None
            ),
            reason=data.get("reason", ""),
            details=details,
        )

    @classmethod
    def judged(
        cls,
        name: str,
        metric: str,
        value: float,
        threshold: float,
        comparison: Comparison,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        interval: tuple[float, float] | None = None,
    ) -> GateResult:
        """PASS when `value comparison threshold` holds, else FAIL (NaN never passes)."""
        return cls(
            name=name,
            outcome=Outcome.PASS if comparison.holds(value, threshold) else Outcome.FAIL,
            metric=metric,
            value=value,
            threshold=threshold,
            comparison=comparison,
            interval=interval,
            reason=reason,
            details=dict(details or {}),
        )

    @classmethod
    def error(cls, name: str, reason: str, metric: str = "-") -> GateResult:
        """A gate that could not decide; `reason` says what is wrong and how to fix it."""
        return cls(name=name, outcome=Outcome.ERROR, metric=metric, reason=reason)


class RunContext(TypedDict, total=False):
    """What a run was about: gate.json's `context`. Each key is there when the run knows it
    (a run that stopped early says less)."""

    model: str  # the model's URI, or "none (data gates only)"
    policy: str  # the policy file, or "default"
    reference: str  # where the data came from, with its rows
    current: str
    engine: str  # "dask (dashboard URL)" for a run over partitions
    dask: dict[str, Any]  # the Dask engine's seconds and workers' peak memory
    flavor: str  # the model's MLflow flavor
    task: str
    model_version: str | None  # the registry's version of the model, if it came from one
    inputs: str  # how requests are validated when the model has no signature
    run_id: str  # the `mlcheck gate` run that wrote the reports
    selection: dict[str, Any]  # what the run selected of the suites (`Selection.to_dict`)
    timings: dict[str, Any]  # seconds per loaded input and per test
    non_finite: dict[str, Any]  # numbers written as null (`NON_FINITE_KEY`)


@dataclass(frozen=True)
class SuiteResult:
    """Every gate of one run, and the verdict and exit code they add up to."""

    gates: tuple[GateResult, ...]
    context: RunContext = field(default_factory=lambda: RunContext())

    @classmethod
    def of(cls, gates: Iterable[GateResult], **context: Any) -> SuiteResult:
        return cls(gates=tuple(gates), context=cast("RunContext", context))

    def count(self, outcome: Outcome) -> int:
        return sum(1 for gate in self.gates if gate.outcome is outcome)

    @property
    def verdict(self) -> Outcome:
        """ERROR if any gate could not decide, FAIL if one failed, PASS otherwise.

        A run with no gate at all is an ERROR: nothing was checked, so nothing may ship.
        """
        outcomes = {gate.outcome for gate in self.gates}
        if not self.gates or Outcome.ERROR in outcomes:
            return Outcome.ERROR
        if Outcome.FAIL in outcomes:
            return Outcome.FAIL
        if outcomes <= {Outcome.SKIP}:
            return Outcome.ERROR
        return Outcome.PASS

    @property
    def exit_code(self) -> int:
        return {Outcome.PASS: 0, Outcome.FAIL: 1}.get(self.verdict, 2)

    def to_dict(self) -> dict[str, Any]:
        """gate.json's data; strict JSON (see `GateResult.to_dict` for non-finite numbers).

        A non-finite number in `context` is written as null the same way, recorded under
        `context["non_finite"]`.
        """
        record: dict[str, str] = {}
        context = _finite(
            {k: v for k, v in self.context.items() if k != NON_FINITE_KEY}, "", record
        )
        if record:
            context[NON_FINITE_KEY] = record
        return {
            "version": GATE_JSON_VERSION,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "counts": {outcome.value: self.count(outcome) for outcome in Outcome},
            "context": context,
            "gates": [gate.to_dict() for gate in self.gates],
        }

    def to_json(self) -> str:
        """gate.json's text: strict JSON (`allow_nan=False`), so any JSON parser reads it."""
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuiteResult:
        version = data.get("version")
        if version != GATE_JSON_VERSION:
            raise DataError(
                f"gate.json version={version!r} is not supported; expected {GATE_JSON_VERSION}. "
                "Re-run the gate with this mlcheck version."
            )
        context = copy.deepcopy(dict(data.get("context") or {}))
        _restore(context, context.pop(NON_FINITE_KEY, None))
        return cls(
            gates=tuple(GateResult.from_dict(item) for item in data["gates"]),
            context=cast("RunContext", context),
        )

    @classmethod
    def from_json(cls, text: str) -> SuiteResult:
        return cls.from_dict(json.loads(text))
