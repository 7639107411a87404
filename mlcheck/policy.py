"""The gate policy (`checks/gates.toml`) read into typed, validated thresholds.

Every key is checked when the policy loads, not when a gate runs: an unknown key or a value
out of range is a `ConfigError` that names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcheck.errors import ConfigError
from mlcheck.gates.stats import METRICS
from mlcheck.results import Comparison

__all__ = [
    "DEFAULT_POLICY_PATH",
    "MetricThreshold",
    "Policy",
    "QualityPolicy",
    "SlicePolicy",
    "load_policy",
    "parse_policy",
]

DEFAULT_POLICY_PATH = Path("checks") / "gates.toml"


@dataclass(frozen=True)
class MetricThreshold:
    metric: str
    comparison: Comparison
    threshold: float


@dataclass(frozen=True)
class SlicePolicy:
    """Per-category metrics for `columns`: the worst slice may trail overall by `max_gap`."""

    columns: tuple[str, ...] = ("job", "education", "contact")
    metric: str = "roc_auc"
    min_size: int = 300
    max_gap: float = 0.08


@dataclass(frozen=True)
class QualityPolicy:
    thresholds: tuple[MetricThreshold, ...] = (
        MetricThreshold("accuracy", Comparison.GE, 0.90),
        MetricThreshold("roc_auc", Comparison.GE, 0.85),
        MetricThreshold("recall", Comparison.GE, 0.40),
        MetricThreshold("log_loss", Comparison.LE, 0.30),
        MetricThreshold("calibration_error", Comparison.LE, 0.03),
    )
    decision_threshold: float = 0.5
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    slices: SlicePolicy | None = SlicePolicy()


@dataclass(frozen=True)
class Policy:
    target: str = "y"
    quality: QualityPolicy = QualityPolicy()
    source: str = "built-in defaults"
    raw: Mapping[str, Any] = field(default_factory=dict)


class _Reader:
    """Walks one TOML table, popping known keys, so leftovers can be reported as unknown."""

    def __init__(self, source: str, section: str, table: Any) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table, got {table!r}")
        self.source, self.section, self.table = source, section, dict(table)

    def where(self, key: str) -> str:
        return f"{self.source}: {self.section}.{key}" if self.section else f"{self.source}: {key}"

    def number(
        self, key: str, default: float, low: float, high: float, integer: bool = False
    ) -> Any:
        value = self.table.pop(key, default)
        kind = "an integer" if integer else "a number"
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or (not integer and math.isnan(value)):
            raise ConfigError(f"{self.where(key)}={value!r} must be {kind} in [{low}, {high}]")
        if not low <= value <= high:
            raise ConfigError(
                f"{self.where(key)}={value!r} is out of range; allowed: [{low}, {high}]"
            )
        return value

    def text(self, key: str, default: str) -> str:
        value = self.table.pop(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.where(key)}={value!r} must be a non-empty string")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.table.pop(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.where(key)}={value!r} must be a list of column names")
        return tuple(value)

    def table_of(self, key: str) -> _Reader | None:
        if key not in self.table:
            return None
        name = f"{self.section}.{key}" if self.section else key
        return _Reader(self.source, name, self.table.pop(key))

    def finish(self, known: tuple[str, ...]) -> None:
        if self.table:
            key = sorted(self.table)[0]
            raise ConfigError(
                f"{self.where(key)} is not a known key; known keys here: {', '.join(known)}"
            )


def _thresholds(reader: _Reader, bound: str) -> list[MetricThreshold]:
    table = reader.table_of(bound)
    if table is None:
        return []
    comparison = Comparison.GE if bound == "min" else Comparison.LE
    out = []
    for metric in list(table.table):
        spec = METRICS.get(metric)
        if spec is None:
            raise ConfigError(
                f"{table.where(metric)} names an unknown metric; known: {', '.join(METRICS)}"
            )
        if spec.higher_is_better != (bound == "min"):
            other = "max" if bound == "min" else "min"
            raise ConfigError(
                f"{table.where(metric)}: {metric} is "
                f"{'higher' if spec.higher_is_better else 'lower'}-is-better; "
                f"put its threshold under [{reader.section}.{other}]"
            )
        value = table.number(metric, 0.0, spec.lower, spec.upper)
        out.append(MetricThreshold(metric, comparison, float(value)))
    return out


def _slices(reader: _Reader) -> SlicePolicy | None:
    table = reader.table_of("slices")
    if table is None:
        return SlicePolicy()
    defaults = SlicePolicy()
    if table.table.pop("enabled", True) is False:
        return None
    metric = table.text("metric", defaults.metric)
    if metric not in METRICS:
        raise ConfigError(
            f"{table.where('metric')}={metric!r} is unknown; known: {', '.join(METRICS)}"
        )
    policy = SlicePolicy(
        columns=table.strings("columns", defaults.columns),
        metric=metric,
        min_size=table.number("min_size", defaults.min_size, 1, 10**9, integer=True),
        max_gap=float(table.number("max_gap", defaults.max_gap, 0.0, METRICS[metric].upper)),
    )
    table.finish(("enabled", "columns", "metric", "min_size", "max_gap"))
    return policy


def _quality(reader: _Reader | None) -> QualityPolicy:
    defaults = QualityPolicy()
    if reader is None:
        return defaults
    thresholds = _thresholds(reader, "min") + _thresholds(reader, "max")
    policy = QualityPolicy(
        thresholds=tuple(thresholds) if thresholds else defaults.thresholds,
        decision_threshold=float(reader.number("decision_threshold", 0.5, 0.0, 1.0)),
        bootstrap_resamples=reader.number("bootstrap_resamples", 1000, 100, 100_000, integer=True),
        confidence=float(reader.number("confidence", 0.95, 0.5, 0.999)),
        seed=reader.number("seed", 0, 0, 2**32 - 1, integer=True),
        slices=_slices(reader),
    )
    reader.finish(
        ("min", "max", "decision_threshold", "bootstrap_resamples", "confidence", "seed", "slices")
    )
    return policy


def parse_policy(data: Mapping[str, Any], source: str = "policy") -> Policy:
    """A `Policy` from parsed TOML; `source` names the file in error messages."""
    root = _Reader(source, "", data)
    data_table = root.table_of("data")
    target = "y"
    if data_table is not None:
        target = data_table.text("target", "y")
        data_table.finish(("target",))
    quality = _quality(root.table_of("quality"))
    root.finish(("data", "quality"))
    return Policy(target=target, quality=quality, source=source, raw=dict(data))


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; with no path, `checks/gates.toml` if present, else the defaults."""
    if path is None:
        if not DEFAULT_POLICY_PATH.is_file():
            return Policy()
        path = DEFAULT_POLICY_PATH
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"policy={str(path)!r} does not exist; pass the path of a gates.toml "
            f"(see {DEFAULT_POLICY_PATH} in the mlcheck repository for an example)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy={str(path)!r} is not valid TOML: {exc}") from exc
    return parse_policy(data, source=str(path))
