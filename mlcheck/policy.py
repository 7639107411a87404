"""The gate policy (`checks/gates.toml`) read into typed, validated thresholds.

Every key is checked when the policy loads, not when a gate runs: an unknown key or a value
out of range is a `ConfigError` that names the file, the key, the value and what is allowed.
Each field declares its default and bounds once, in its metadata (`number`, `choice`, ...);
one reader, `_Table.read`, reads any section from them.
"""

# The field helpers (`number`, `table`, ...) return `dataclasses.field(...)`, which ruff's
# RUF009 cannot see through.
# ruff: noqa: RUF009

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from mlcheck.errors import ConfigError
from mlcheck.results import Comparison
from mlcheck.stats.catalogue import LARGE_SAMPLE_ROWS, METHODS, METRICS
from mlcheck.stats.tasks import TASK_CHOICES, Task, TaskChoice

__all__ = [
    "DEFAULT_POLICY_PATH",
    "MLFLOW_IMAGE_ENV",
    "PROMETHEUS_IMAGE_ENV",
    "BootstrapPolicy",
    "ColumnDriftRule",
    "ComparePolicy",
    "DataPolicy",
    "DataQualityPolicy",
    "DriftPolicy",
    "EstimatedPolicy",
    "ImportancePolicy",
    "LatencyPolicy",
    "LoadPolicy",
    "MetricThreshold",
    "Policy",
    "QualityPolicy",
    "SchemaPolicy",
    "SlicePolicy",
    "StackPolicy",
    "SuitesPolicy",
    "load_policy",
    "parse_policy",
]

DEFAULT_POLICY_PATH = Path("checks") / "gates.toml"
#: Environment variables that override the policy's image names, e.g. on a CI runner that
#: can pull the official images: MLCHECK_PROMETHEUS_IMAGE=prom/prometheus:v2.53.4.
PROMETHEUS_IMAGE_ENV = "MLCHECK_PROMETHEUS_IMAGE"
MLFLOW_IMAGE_ENV = "MLCHECK_MLFLOW_IMAGE"

_T = TypeVar("_T")
_SPEC = "mlcheck.policy"


@dataclass(frozen=True)
class _Spec:
    """How a field is read: its kind, TOML key (default: the field's name) and what is allowed."""

    kind: str  # number, flag, choice, text, names, path, paths, flat, table or custom
    key: str | None = None
    low: float = -math.inf
    high: float | Callable[[Mapping[str, Any]], float] = math.inf
    integer: bool = False
    choices: tuple[str, ...] = ()
    catalogue: bool = False
    cls: Any = None
    can_disable: bool = False
    parse: Callable[[_Table], Any] | None = None
    keys: tuple[str, ...] = ()


def _field(spec: _Spec, default: Any = None, factory: Callable[[], Any] | None = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={_SPEC: spec})
    return field(default=default, metadata={_SPEC: spec})


def number(
    default: float | None,
    low: float,
    high: float | Callable[[Mapping[str, Any]], float] = math.inf,
    integer: bool = False,
    key: str | None = None,
) -> Any:
    """A number in [low, high]; `high` may depend on the fields read before; None: optional."""
    return _field(_Spec("number", key, low, high, integer), default)


def flag(default: bool) -> Any:
    return _field(_Spec("flag"), default)


def choice(default: str | None, allowed: Iterable[str]) -> Any:
    """One of `allowed`; a catalogue (a Mapping such as METRICS) is reported as known names."""
    return _field(
        _Spec("choice", choices=tuple(allowed), catalogue=isinstance(allowed, Mapping)), default
    )


def text(default: str | None) -> Any:
    return _field(_Spec("text"), default)


def names(default: tuple[str, ...]) -> Any:
    return _field(_Spec("names"), default)


def path() -> Any:
    """A path relative to the policy's folder; empty (the default) is None."""
    return _field(_Spec("path"))


def paths() -> Any:
    """A list of paths relative to the policy's folder (default: none)."""
    return _field(_Spec("paths"), ())


def flat(cls: type) -> Any:
    """A nested dataclass whose fields are keys of this same table."""
    return _field(_Spec("flat", cls=cls), factory=cls)


def table(cls: type, can_disable: bool = False) -> Any:
    """A nested dataclass read from the sub-table of this name; `enabled = false` gives None."""
    return _field(_Spec("table", cls=cls, can_disable=can_disable), factory=cls)


def custom(
    parse: Callable[[_Table], Any],
    keys: tuple[str, ...],
    default: Any = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A value `parse` takes out of the table (None: the default); `keys` are its known keys."""
    return _field(_Spec("custom", parse=parse, keys=keys), default, factory)


@dataclass(frozen=True)
class MetricThreshold:
    metric: str
    comparison: Comparison
    threshold: float


@dataclass(frozen=True)
class BootstrapPolicy:
    """The interval a gate decides on; its keys are flattened into their section.

    From `large_sample_rows` rows on, quality metrics get large-sample intervals (Wilson,
    DeLong, the delta method: `stats.metrics.metric_intervals`) instead of the bootstrap."""

    resamples: int = number(1000, 100, 100_000, integer=True, key="bootstrap_resamples")
    confidence: float = number(0.95, 0.5, 0.999)
    seed: int = number(0, 0, 2**32 - 1, integer=True)
    large_sample_rows: int = number(LARGE_SAMPLE_ROWS, 1_000, 10**15, integer=True)


#: The thresholds a task is gated on when the policy sets none under [quality.min/max].
DEFAULT_THRESHOLDS: dict[Task, tuple[MetricThreshold, ...]] = {
    "binary": (
        MetricThreshold("accuracy", Comparison.GE, 0.90),
        MetricThreshold("roc_auc", Comparison.GE, 0.85),
        MetricThreshold("recall", Comparison.GE, 0.40),
        MetricThreshold("log_loss", Comparison.LE, 0.30),
        MetricThreshold("calibration_error", Comparison.LE, 0.03),
    ),
    "multiclass": (
        MetricThreshold("accuracy", Comparison.GE, 0.70),
        MetricThreshold("f1_macro", Comparison.GE, 0.60),
        MetricThreshold("recall_min", Comparison.GE, 0.40),
        MetricThreshold("log_loss", Comparison.LE, 1.00),
    ),
    "regression": (MetricThreshold("r2", Comparison.GE, 0.50),),
}
#: The metric slices are compared on when the policy names none.
DEFAULT_SLICE_METRIC: dict[Task, str] = {
    "binary": "roc_auc",
    "multiclass": "accuracy",
    "regression": "r2",
}
#: The non-inferiority margins of the compare gate when the policy sets none.
DEFAULT_MARGINS: dict[Task, tuple[tuple[str, float], ...]] = {
    "binary": (("roc_auc", 0.01), ("accuracy", 0.01), ("log_loss", 0.02)),
    "multiclass": (("accuracy", 0.01), ("f1_macro", 0.01), ("log_loss", 0.02)),
    "regression": (("r2", 0.01),),
}


@dataclass(frozen=True)
class SlicePolicy:
    """Per-category metrics for `columns`: the worst slice may trail overall by `max_gap`.

    `metric` defaults to the task's (`DEFAULT_SLICE_METRIC`)."""

    columns: tuple[str, ...] = names(())
    metric: str | None = choice(None, METRICS)
    min_size: int = number(300, 1, 10**9, integer=True)
    max_gap: float = number(0.08, 0.0, lambda read: METRICS[read["metric"] or "roc_auc"].upper)

    def metric_for(self, task: Task) -> str:
        return self.metric or DEFAULT_SLICE_METRIC[task]


@dataclass(frozen=True)
class EstimatedPolicy:
    """`[quality.estimated]`: the classification metrics estimated from the model's
    probabilities on the current data (confidence-based, before labels arrive), each gated
    on the interval's pessimistic end against the metric's own threshold. The estimate holds
    only for a calibrated model: with a reference calibration error above
    `max_reference_calibration_error` the gates cannot decide."""

    outcome: str = choice("warn", ("warn", "fail"))
    max_reference_calibration_error: float = number(0.05, 0.0, 1.0)
    draws: int = number(400, 50, 100_000, integer=True)


# The custom parsers are defined below the reader; the lambdas look them up when called.
@dataclass(frozen=True)
class QualityPolicy:
    """`[quality]`: thresholds (none given: the task's `DEFAULT_THRESHOLDS`), the binary
    decision threshold, the bootstrap, the regression baseline gate and slices.

    With fewer than `min_rows` labelled rows no metric gate decides (ERROR). 50 by default:
    at a metric near 0.9, 50 rows hold about 5 errors, the fewest at which a bootstrap or
    normal interval is customarily trusted (n (1 - p) >= 5); below it even the exact
    interval is too wide to gate on (30 of 30 rows right: its 95% low end is 0.88)."""

    thresholds: tuple[MetricThreshold, ...] = custom(lambda t: _thresholds(t), ("min", "max"), ())
    decision_threshold: float = number(0.5, 0.0, 1.0)
    bootstrap: BootstrapPolicy = flat(BootstrapPolicy)
    min_rows: int = number(50, 1, 10**15, integer=True)
    baseline: bool = flag(True)  # regression: block a model no better than the reference mean
    slices: SlicePolicy | None = table(SlicePolicy, can_disable=True)
    estimated: EstimatedPolicy | None = table(EstimatedPolicy, can_disable=True)

    def rules(self, task: Task) -> tuple[MetricThreshold, ...]:
        """The thresholds gated for `task`: the policy's own, else the task's defaults."""
        return self.thresholds or DEFAULT_THRESHOLDS[task]


@dataclass(frozen=True)
class SchemaPolicy:
    """`file`: a `.py` defining SCHEMA or a pandera `.yaml`; None infers one from the reference."""

    file: Path | None = path()


@dataclass(frozen=True)
class DataQualityPolicy:
    max_missing_rate: float = number(0.05, 0.0, 1.0)
    max_outlier_rate: float = number(0.10, 0.0, 1.0)
    outlier_quantile: float = number(0.001, 0.0, 0.25)
    max_duplicate_rate: float = number(0.05, 0.0, 1.0)
    allow_new_categories: bool = flag(False)
    allow_constant_columns: bool = flag(False)


@dataclass(frozen=True)
class ColumnDriftRule:
    """A column's own drift method and threshold; `warn` marks a softer level (e.g. PSI 0.2)."""

    method: str | None = choice(None, METHODS)
    threshold: float | None = number(None, 0)
    warn: float | None = number(None, 0)


@dataclass(frozen=True)
class DriftPolicy:
    dataset_share: float = number(0.5, 0.0, 1.0)
    column_outcome: str = choice("fail", ("fail", "warn"))
    # One family: the p-value tests of every column, the prediction and the target are
    # adjusted together (Benjamini-Hochberg), so no extra test adds its own chance blocks.
    fdr: bool = flag(True)
    # Effect floors: a p-value test's drift counts only when the shift is at least this large
    # (normed Wasserstein, in reference standard deviations; Jensen-Shannon distance of the
    # shares). Measured on clean and shifted splits of scikit-learn's data sets (README).
    min_wasserstein: float = number(0.1, 0.0, 100.0)
    min_jensenshannon: float = number(0.05, 0.0, 1.0)
    prediction: bool = flag(True)
    target: bool = flag(True)
    report_rows: int = number(20_000, 0, 10_000_000, integer=True)
    columns: Mapping[str, ColumnDriftRule] = custom(
        lambda t: _column_rules(t), ("columns",), factory=dict
    )


@dataclass(frozen=True)
class ImportancePolicy:
    """`[importance]`: each feature's permutation importance on `rows` sampled rows of the
    reference and of the current data; no feature's share of the importance may move by more
    than `max_share_shift`, and the reference's `top_k` features with at least `min_share`
    of it must keep their order (Spearman >= `min_rank_correlation`). Off unless enabled."""

    enabled: bool = flag(False)
    rows: int = number(5_000, 100, 10_000_000, integer=True)
    repeats: int = number(5, 1, 100, integer=True)
    top_k: int = number(5, 2, 10_000, integer=True)
    min_share: float = number(0.05, 0.0, 1.0)
    min_rank_correlation: float = number(0.6, -1.0, 1.0)
    max_share_shift: float = number(0.15, 0.0, 1.0)
    outcome: str = choice("fail", ("fail", "warn"))
    seed: int = number(0, 0, 2**32 - 1, integer=True)


@dataclass(frozen=True)
class LatencyPolicy:
    """In-process predict timing (pytest-benchmark) and a bounded HTTP run against the server."""

    single_p95_ms: float = number(50.0, 0.001, 60_000)
    batch_p95_ms: float = number(250.0, 0.001, 600_000)
    batch_rows: int = number(1000, 1, 100_000, integer=True)
    http_requests: int = number(400, 10, 1_000_000, integer=True)
    http_concurrency: int = number(4, 1, 256, integer=True)
    http_p95_ms: float = number(500.0, 0.001, 600_000)
    http_p99_ms: float = number(200.0, 0.001, 600_000)
    http_max_error_rate: float = number(0.05, 0.0, 1.0)


@dataclass(frozen=True)
class LoadPolicy:
    """A bounded locust run: users, mix of single and batch requests, and its thresholds."""

    users: int = number(20, 1, 10_000, integer=True)
    spawn_rate: float = number(10.0, 0.1, 10_000)
    run_time_s: float = number(20.0, 1, 3600)
    batch_share: float = number(0.2, 0.0, 1.0)
    batch_rows: int = number(50, 1, 100_000, integer=True)
    p95_ms: float = number(500.0, 0.001, 600_000)
    p99_ms: float = number(1000.0, 0.001, 600_000)
    max_failure_ratio: float = number(0.05, 0.0, 1.0)
    min_rps: float = number(20.0, 0.0, 1_000_000)
    workers: int = number(0, 0, 64, integer=True)


@dataclass(frozen=True)
class StackPolicy:
    """The real services of a run and the gates read from Prometheus after the load."""

    prometheus_image: str = text("mlcheck/prometheus:local")
    mlflow_image: str = text("mlcheck/mlflow:local")
    scrape_interval_s: float = number(1.0, 0.1, 60)
    p95_ms: float = number(500.0, 0.001, 600_000)
    max_error_ratio: float = number(0.05, 0.0, 1.0)
    alert_wait_s: float = number(60.0, 1, 600)


@dataclass(frozen=True)
class ComparePolicy:
    """Non-inferiority margins of the challenger vs the champion, per metric."""

    margins: tuple[tuple[str, float], ...] = custom(lambda t: _margins(t), ("margin_<metric>",), ())
    bootstrap: BootstrapPolicy = flat(BootstrapPolicy)

    def margins_for(self, task: Task) -> tuple[tuple[str, float], ...]:
        """The policy's margins, else the task's `DEFAULT_MARGINS`."""
        return self.margins or DEFAULT_MARGINS[task]


@dataclass(frozen=True)
class SuitesPolicy:
    """The user's own gate suites (pytest files or folders), run beside the built-in ones."""

    extra: tuple[Path, ...] = paths()


@dataclass(frozen=True)
class DataPolicy:
    """`[data]`: the label column and the task (`auto`: what the model and its outputs are).

    Without a `target`, the run finds it (see `Data.target`): the demo's is `y`."""

    target: str | None = text(None)
    task: TaskChoice = choice("auto", TASK_CHOICES)


@dataclass(frozen=True)
class Policy:
    data: DataPolicy = table(DataPolicy)
    quality: QualityPolicy = table(QualityPolicy)
    schema: SchemaPolicy = table(SchemaPolicy)
    data_quality: DataQualityPolicy = table(DataQualityPolicy)
    drift: DriftPolicy = table(DriftPolicy)
    importance: ImportancePolicy = table(ImportancePolicy)
    latency: LatencyPolicy = table(LatencyPolicy)
    load: LoadPolicy = table(LoadPolicy)
    stack: StackPolicy = table(StackPolicy)
    compare: ComparePolicy = table(ComparePolicy)
    suites: SuitesPolicy = table(SuitesPolicy)
    source: str = "built-in defaults"  # no metadata: not read from the file

    @property
    def target(self) -> str | None:
        return self.data.target

    @property
    def task(self) -> TaskChoice:
        return self.data.task


class _Table:
    """One TOML table being read: keys are popped as they are read, so leftovers are unknown."""

    def __init__(self, source: str, base: Path, section: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table, got {data!r}")
        self.source, self.base, self.section, self.data = source, base, section, dict(data)

    def where(self, key: str) -> str:
        return f"{self.source}: {self.section}.{key}" if self.section else f"{self.source}: {key}"

    def child(self, key: str) -> _Table:
        """The sub-table `key`, empty when absent."""
        name = f"{self.section}.{key}" if self.section else key
        return _Table(self.source, self.base, name, self.data.pop(key, {}))

    def read(self, cls: type[_T], known: Iterable[str] = ()) -> _T:
        """A `cls` from this table, each field read as its metadata says; other keys fail."""
        values, keys = self._values(cls)
        self.finish([*known, *keys])
        return cls(**values)

    def finish(self, known: Iterable[str]) -> None:
        if self.data:
            raise ConfigError(
                f"{self.where(min(self.data))} is not a known key; "
                f"known keys here: {', '.join(known)}"
            )

    def _values(self, cls: type) -> tuple[dict[str, Any], list[str]]:
        defaults = cls()
        values: dict[str, Any] = {}
        keys: list[str] = []
        for f in fields(cls):
            values[f.name] = getattr(defaults, f.name)
            spec: _Spec | None = f.metadata.get(_SPEC)
            if spec is None:
                continue
            key = spec.key or f.name
            if spec.kind == "flat":
                nested, nested_keys = self._values(spec.cls)
                values[f.name] = spec.cls(**nested)
                keys += nested_keys
            elif spec.kind == "table":
                keys.append(key)
                sub = self.child(key)
                enabled = sub.take("enabled", _Spec("flag")) if spec.can_disable else None
                section = sub.read(spec.cls, ("enabled",) if spec.can_disable else ())
                values[f.name] = None if enabled is False else section
            else:
                keys += spec.keys or (key,)
                value = spec.parse(self) if spec.parse else self.take(key, spec, values)
                values[f.name] = values[f.name] if value is None else value
        return values, keys

    def take(self, key: str, spec: _Spec, read: Mapping[str, Any] | None = None) -> Any:
        """The checked value of `key` (None when absent); `read`: the fields read so far."""
        if key not in self.data:
            return None
        value = self.data.pop(key)
        where = f"{self.where(key)}={value!r}"
        match spec.kind:
            case "number":
                high = spec.high(read or {}) if callable(spec.high) else spec.high
                return _number(where, value, spec.low, high, spec.integer)
            case "flag" if isinstance(value, bool):
                return value
            case "choice" if value in spec.choices:
                return value
            case "text" if isinstance(value, str) and value:
                return value
            case "names" if isinstance(value, list) and all(
                isinstance(v, str) and v for v in value
            ):
                return tuple(value)
            case "path" if isinstance(value, str):
                return self.base / value if value else None
            case "paths" if isinstance(value, list) and all(
                isinstance(v, str) and v for v in value
            ):
                return tuple(self.base / v for v in value)
        problem = {
            "flag": "must be true or false",
            "choice": ("is unknown; known: " if spec.catalogue else "is not allowed; use one of: ")
            + ", ".join(spec.choices),
            "text": "must be a non-empty string",
            "names": "must be a list of column names",
            "path": "must be a path (or empty to infer)",
            "paths": "must be a list of paths (relative to the policy file)",
        }[spec.kind]
        raise ConfigError(f"{where} {problem}")


def _number(where: str, value: Any, low: float, high: float, integer: bool) -> Any:
    """`value` if a finite number (an int when `integer`) in [low, high]; NaN and infinities
    fail (a threshold of inf would never be reached: a gate that cannot block)."""
    kind = "an integer" if integer else "a number"
    rule = f"in [{low}, {high}]" if high < math.inf else f">= {low}"
    is_number = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
    if is_number and not math.isfinite(value) and high == math.inf:
        raise ConfigError(f"{where} must be a finite number {rule}")
    if is_number and math.isfinite(value) and low <= value <= high:
        return value if integer else float(value)
    if is_number and high < math.inf:
        raise ConfigError(f"{where} is out of range; allowed: [{low}, {high}]")
    raise ConfigError(f"{where} must be {kind} {rule}")


def _thresholds(quality: _Table) -> tuple[MetricThreshold, ...] | None:
    """`[quality.min]` and `[quality.max]`: each metric under the bound of its direction."""
    out = []
    for bound, comparison in (("min", Comparison.GE), ("max", Comparison.LE)):
        bounds = quality.child(bound)
        for metric in list(bounds.data):
            spec = METRICS.get(metric)
            if spec is None:
                raise ConfigError(
                    f"{bounds.where(metric)} names an unknown metric; known: {', '.join(METRICS)}"
                )
            if spec.higher_is_better != (bound == "min"):
                better, other = ("higher", "min") if spec.higher_is_better else ("lower", "max")
                raise ConfigError(
                    f"{bounds.where(metric)}: {metric} is {better}-is-better; "
                    f"put its threshold under [{quality.section}.{other}]"
                )
            limit = bounds.take(metric, _Spec("number", low=spec.lower, high=spec.upper))
            out.append(MetricThreshold(metric, comparison, limit))
    return tuple(out) or None


def _margins(compare: _Table) -> tuple[tuple[str, float], ...] | None:
    """`[compare] margin_<metric>`: how far the challenger may trail the champion."""
    out = []
    for key in [k for k in compare.data if k.startswith("margin_")]:
        metric = key.removeprefix("margin_")
        if metric not in METRICS:
            raise ConfigError(
                f"{compare.where(key)}: {metric!r} is not a metric; use margin_<metric> with one "
                f"of {', '.join(METRICS)}"
            )
        out.append(
            (metric, compare.take(key, _Spec("number", low=0.0, high=METRICS[metric].upper)))
        )
    return tuple(out) or None


def _column_rules(drift: _Table) -> dict[str, ColumnDriftRule]:
    """`[drift.columns.NAME]` tables, each a `ColumnDriftRule`."""
    columns = drift.child("columns")
    return {name: columns.child(name).read(ColumnDriftRule) for name in list(columns.data)}


def parse_policy(
    data: Mapping[str, Any], source: str = "policy", base: Path | None = None
) -> Policy:
    """A `Policy` from parsed TOML; `source` names the file in error messages.

    Relative paths in the policy (the schema file) are taken from `base`, the policy's folder.
    """
    return replace(_Table(source, base or Path.cwd(), "", data).read(Policy), source=source)


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; with no path, `checks/gates.toml` if present, else the defaults.

    Image names may be overridden from the environment (`PROMETHEUS_IMAGE_ENV`, ...).
    """
    policy = _read_policy(path)
    stack = replace(
        policy.stack,
        prometheus_image=os.environ.get(PROMETHEUS_IMAGE_ENV) or policy.stack.prometheus_image,
        mlflow_image=os.environ.get(MLFLOW_IMAGE_ENV) or policy.stack.mlflow_image,
    )
    return replace(policy, stack=stack)


def _read_policy(path: str | Path | None) -> Policy:
    if path is None:
        if not DEFAULT_POLICY_PATH.is_file():
            return Policy()
        path = DEFAULT_POLICY_PATH
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"--policy={str(path)!r} does not exist; pass the path of a gates.toml "
            f"(see {DEFAULT_POLICY_PATH} in the mlcheck repository for an example)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--policy={str(path)!r} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"--policy={str(path)!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8 (TOML files are UTF-8)"
        ) from exc
    return parse_policy(data, source=str(path), base=path.parent)
