"""Gate results: plain, frozen, serialisable data with one outcome enum and one message format."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlcheck.errors import DataError

__all__ = ["GATE_JSON_VERSION", "Comparison", "GateResult", "Outcome", "SuiteResult"]

GATE_JSON_VERSION = 1


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
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison.value if self.comparison else None,
            "interval": list(self.interval) if self.interval is not None else None,
            "reason": self.reason,
            "details": dict(self.details),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        interval = data.get("interval")
        comparison = data.get("comparison")
        return cls(
            name=data["name"],
            outcome=Outcome(data["outcome"]),
            metric=data["metric"],
            value=data.get("value"),
            threshold=data.get("threshold"),
            comparison=Comparison(comparison) if comparison else None,
            interval=(float(interval[0]), float(interval[1])) if interval else None,
            reason=data.get("reason", ""),
            details=dict(data.get("details") or {}),
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


@dataclass(frozen=True)
class SuiteResult:
    """Every gate of one run, and the verdict and exit code they add up to."""

    gates: tuple[GateResult, ...]
    context: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, gates: Iterable[GateResult], **context: Any) -> SuiteResult:
        return cls(gates=tuple(gates), context=context)

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
        return {
            "version": GATE_JSON_VERSION,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "counts": {outcome.value: self.count(outcome) for outcome in Outcome},
            "context": dict(self.context),
            "gates": [gate.to_dict() for gate in self.gates],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuiteResult:
        version = data.get("version")
        if version != GATE_JSON_VERSION:
            raise DataError(
                f"gate.json version={version!r} is not supported; expected {GATE_JSON_VERSION}. "
                "Re-run the gate with this mlcheck version."
            )
        return cls(
            gates=tuple(GateResult.from_dict(item) for item in data["gates"]),
            context=dict(data.get("context") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> SuiteResult:
        return cls.from_dict(json.loads(text))
