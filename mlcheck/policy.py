"""The gate policy (`checks/gates.toml`) read into typed, validated thresholds.

Every key is checked when the policy loads, not when a gate runs: an unknown key or a value
out of range is a `ConfigError` that names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
class SchemaPolicy:
    """`file`: a `.py` defining SCHEMA or a pandera `.yaml`; None infers one from the reference."""

    file: Path | None = None


@dataclass(frozen=True)
class DataQualityPolicy:
    max_missing_rate: float = 0.05
    max_outlier_rate: float = 0.10
    outlier_quantile: float = 0.001
    max_duplicate_rate: float = 0.05
    allow_new_categories: bool = False
    allow_constant_columns: bool = False


@dataclass(frozen=True)
class ColumnDriftRule:
    """A column's own drift method and threshold; `warn` marks a softer level (e.g. PSI 0.2)."""

    method: str | None = None
    threshold: float | None = None
    warn: float | None = None


@dataclass(frozen=True)
class DriftPolicy:
    dataset_share: float = 0.5
    column_outcome: str = "fail"
    fdr: bool = False
    prediction: bool = True
    target: bool = True
    report_rows: int = 50_000
    columns: Mapping[str, ColumnDriftRule] = field(default_factory=dict)


@dataclass(frozen=True)
class LatencyPolicy:
    """In-process predict timing (pytest-benchmark) and a bounded HTTP run against the server."""

    single_p95_ms: float = 50.0
    batch_p95_ms: float = 250.0
    batch_rows: int = 1000
    http_requests: int = 400
    http_concurrency: int = 4
    http_p95_ms: float = 500.0
    http_p99_ms: float = 200.0
    http_max_error_rate: float = 0.05


@dataclass(frozen=True)
class LoadPolicy:
    """A bounded locust run: users, mix of single and batch requests, and its thresholds."""

    users: int = 20
    spawn_rate: float = 10.0
    run_time_s: float = 20.0
    batch_share: float = 0.2
    batch_rows: int = 50
    p95_ms: float = 500.0
    p99_ms: float = 1000.0
    max_failure_ratio: float = 0.05
    min_rps: float = 20.0
    workers: int = 0


@dataclass(frozen=True)
class ComparePolicy:
    """Non-inferiority margins of the challenger vs the champion, per metric."""

    margins: tuple[tuple[str, float], ...] = (
        ("roc_auc", 0.01),
        ("accuracy", 0.01),
        ("log_loss", 0.02),
    )
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class StackPolicy:
    """The real services of a run and the gates read from Prometheus after the load."""

    prometheus_image: str = "mlcheck/prometheus:local"
    mlflow_image: str = "mlcheck/mlflow:local"
    scrape_interval_s: float = 1.0
    p95_ms: float = 500.0
    max_error_ratio: float = 0.05
    alert_wait_s: float = 60.0


@dataclass(frozen=True)
class Policy:
    target: str = "y"
    quality: QualityPolicy = QualityPolicy()
    schema: SchemaPolicy = SchemaPolicy()
    data_quality: DataQualityPolicy = DataQualityPolicy()
    drift: DriftPolicy = DriftPolicy()
    latency: LatencyPolicy = LatencyPolicy()
    load: LoadPolicy = LoadPolicy()
    stack: StackPolicy = StackPolicy()
    compare: ComparePolicy = ComparePolicy()
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

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.pop(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}={value!r} must be true or false")
        return value

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.table.pop(key, default)
        if value not in allowed:
            raise ConfigError(
                f"{self.where(key)}={value!r} is not allowed; use one of: {', '.join(allowed)}"
            )
        return str(value)

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


def _schema(reader: _Reader | None, base: Path) -> SchemaPolicy:
    if reader is None:
        return SchemaPolicy()
    file = reader.table.pop("file", "")
    if not isinstance(file, str):
        raise ConfigError(f"{reader.where('file')}={file!r} must be a path (or empty to infer)")
    reader.finish(("file",))
    return SchemaPolicy(file=(base / file) if file else None)


def _data_quality(reader: _Reader | None) -> DataQualityPolicy:
    d = DataQualityPolicy()
    if reader is None:
        return d
    policy = DataQualityPolicy(
        max_missing_rate=float(reader.number("max_missing_rate", d.max_missing_rate, 0.0, 1.0)),
        max_outlier_rate=float(reader.number("max_outlier_rate", d.max_outlier_rate, 0.0, 1.0)),
        outlier_quantile=float(reader.number("outlier_quantile", d.outlier_quantile, 0.0, 0.25)),
        max_duplicate_rate=float(
            reader.number("max_duplicate_rate", d.max_duplicate_rate, 0.0, 1.0)
        ),
        allow_new_categories=reader.flag("allow_new_categories", d.allow_new_categories),
        allow_constant_columns=reader.flag("allow_constant_columns", d.allow_constant_columns),
    )
    reader.finish(
        (
            "max_missing_rate",
            "max_outlier_rate",
            "outlier_quantile",
            "max_duplicate_rate",
            "allow_new_categories",
            "allow_constant_columns",
        )
    )
    return policy


def _column_rule(reader: _Reader) -> ColumnDriftRule:
    from mlcheck.gates.drift_stats import METHODS

    method = reader.table.pop("method", None)
    if method is not None and method not in METHODS:
        raise ConfigError(
            f"{reader.where('method')}={method!r} is unknown; known: {', '.join(METHODS)}"
        )
    threshold = reader.table.pop("threshold", None)
    warn = reader.table.pop("warn", None)
    for key, value in (("threshold", threshold), ("warn", warn)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise ConfigError(f"{reader.where(key)}={value!r} must be a number >= 0")
    reader.finish(("method", "threshold", "warn"))
    return ColumnDriftRule(
        method=method,
        threshold=float(threshold) if threshold is not None else None,
        warn=float(warn) if warn is not None else None,
    )


def _drift(reader: _Reader | None) -> DriftPolicy:
    d = DriftPolicy()
    if reader is None:
        return d
    columns: dict[str, ColumnDriftRule] = {}
    table = reader.table_of("columns")
    if table is not None:
        for name in list(table.table):
            sub_reader = table.table_of(name)
            assert sub_reader is not None
            columns[name] = _column_rule(sub_reader)
    policy = DriftPolicy(
        dataset_share=float(reader.number("dataset_share", d.dataset_share, 0.0, 1.0)),
        column_outcome=reader.choice("column_outcome", d.column_outcome, ("fail", "warn")),
        fdr=reader.flag("fdr", d.fdr),
        prediction=reader.flag("prediction", d.prediction),
        target=reader.flag("target", d.target),
        report_rows=reader.number("report_rows", d.report_rows, 0, 10_000_000, integer=True),
        columns=columns,
    )
    reader.finish(
        ("dataset_share", "column_outcome", "fdr", "prediction", "target", "report_rows", "columns")
    )
    return policy


_RANGES: dict[str, tuple[float, float, bool]] = {
    # key: (low, high, integer)
    "single_p95_ms": (0.001, 60_000, False),
    "batch_p95_ms": (0.001, 600_000, False),
    "batch_rows": (1, 100_000, True),
    "http_requests": (10, 1_000_000, True),
    "http_concurrency": (1, 256, True),
    "http_p95_ms": (0.001, 600_000, False),
    "http_p99_ms": (0.001, 600_000, False),
    "http_max_error_rate": (0.0, 1.0, False),
    "users": (1, 10_000, True),
    "spawn_rate": (0.1, 10_000, False),
    "run_time_s": (1, 3600, False),
    "batch_share": (0.0, 1.0, False),
    "p95_ms": (0.001, 600_000, False),
    "p99_ms": (0.001, 600_000, False),
    "max_failure_ratio": (0.0, 1.0, False),
    "min_rps": (0.0, 1_000_000, False),
    "workers": (0, 64, True),
}


def _stack(reader: _Reader | None) -> StackPolicy:
    d = StackPolicy()
    if reader is None:
        return d
    policy = StackPolicy(
        prometheus_image=reader.text("prometheus_image", d.prometheus_image),
        mlflow_image=reader.text("mlflow_image", d.mlflow_image),
        scrape_interval_s=float(reader.number("scrape_interval_s", d.scrape_interval_s, 0.1, 60)),
        p95_ms=float(reader.number("p95_ms", d.p95_ms, 0.001, 600_000)),
        max_error_ratio=float(reader.number("max_error_ratio", d.max_error_ratio, 0.0, 1.0)),
        alert_wait_s=float(reader.number("alert_wait_s", d.alert_wait_s, 1, 600)),
    )
    reader.finish(tuple(StackPolicy.__dataclass_fields__))
    return policy


def _compare(reader: _Reader | None) -> ComparePolicy:
    d = ComparePolicy()
    if reader is None:
        return d
    margins = []
    for key in [k for k in list(reader.table) if k.startswith("margin_")]:
        metric = key.removeprefix("margin_")
        if metric not in METRICS:
            raise ConfigError(
                f"{reader.where(key)}: {metric!r} is not a metric; use margin_<metric> with one of "
                f"{', '.join(METRICS)}"
            )
        margins.append((metric, float(reader.number(key, 0.0, 0.0, METRICS[metric].upper))))
    policy = ComparePolicy(
        margins=tuple(margins) or d.margins,
        bootstrap_resamples=reader.number("bootstrap_resamples", 1000, 100, 100_000, integer=True),
        confidence=float(reader.number("confidence", 0.95, 0.5, 0.999)),
        seed=reader.number("seed", 0, 0, 2**32 - 1, integer=True),
    )
    reader.finish(("margin_<metric>", "bootstrap_resamples", "confidence", "seed"))
    return policy


def _numbers(reader: _Reader | None, defaults: Any) -> Any:
    """A dataclass of numbers from a table, each key checked against `_RANGES`."""
    if reader is None:
        return defaults
    names = tuple(defaults.__dataclass_fields__)
    values = {}
    for name in names:
        low, high, integer = _RANGES[name]
        value = reader.number(name, getattr(defaults, name), low, high, integer=integer)
        values[name] = value if integer else float(value)
    reader.finish(names)
    return type(defaults)(**values)


def parse_policy(
    data: Mapping[str, Any], source: str = "policy", base: Path | None = None
) -> Policy:
    """A `Policy` from parsed TOML; `source` names the file in error messages.

    Relative paths in the policy (the schema file) are taken from `base`, the policy's folder.
    """
    root = _Reader(source, "", data)
    data_table = root.table_of("data")
    target = "y"
    if data_table is not None:
        target = data_table.text("target", "y")
        data_table.finish(("target",))
    policy = Policy(
        target=target,
        quality=_quality(root.table_of("quality")),
        schema=_schema(root.table_of("schema"), base or Path.cwd()),
        data_quality=_data_quality(root.table_of("data_quality")),
        drift=_drift(root.table_of("drift")),
        latency=_numbers(root.table_of("latency"), LatencyPolicy()),
        load=_numbers(root.table_of("load"), LoadPolicy()),
        stack=_stack(root.table_of("stack")),
        compare=_compare(root.table_of("compare")),
        source=source,
        raw=dict(data),
    )
    root.finish(
        (
            "data",
            "quality",
            "schema",
            "data_quality",
            "drift",
            "latency",
            "load",
            "stack",
            "compare",
        )
    )
    return policy


#: Environment variables that override the policy's image names, e.g. on a CI runner that
#: can pull the official images: MLCHECK_PROMETHEUS_IMAGE=prom/prometheus:v2.53.4.
PROMETHEUS_IMAGE_ENV = "MLCHECK_PROMETHEUS_IMAGE"
MLFLOW_IMAGE_ENV = "MLCHECK_MLFLOW_IMAGE"


def _images_from_env(policy: Policy) -> Policy:
    stack = replace(
        policy.stack,
        prometheus_image=os.environ.get(PROMETHEUS_IMAGE_ENV) or policy.stack.prometheus_image,
        mlflow_image=os.environ.get(MLFLOW_IMAGE_ENV) or policy.stack.mlflow_image,
    )
    return replace(policy, stack=stack)


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; with no path, `checks/gates.toml` if present, else the defaults.

    Image names may be overridden from the environment (`PROMETHEUS_IMAGE_ENV`, ...).
    """
    return _images_from_env(_read_policy(path))


def _read_policy(path: str | Path | None) -> Policy:
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
    return parse_policy(data, source=str(path), base=path.parent)
