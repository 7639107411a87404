"""Quality metrics of the three tasks with vectorised bootstrap intervals.

Every metric is computed from weighted sums over rows, so one code path serves the point
estimate (all weights 1), bootstrap resamples (weights = how often each row was drawn) and
slices (weights = 0/1 membership). Each task prepares its rows once (`BinaryRows`,
`MulticlassRows`, `RegressionRows`); the bootstrap here is the same for all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mlcheck.stats.binary import BinaryRows
from mlcheck.stats.intervals import delong, normal_sums, quantile_interval, wilson
from mlcheck.stats.moments import Moments
from mlcheck.stats.multiclass import MulticlassRows
from mlcheck.stats.regression import ERROR_QUANTILES, RegressionRows
from mlcheck.stats.tasks import TASK_CHOICES, TASKS

__all__ = [
    "LARGE_SAMPLE_CLASS_ROWS",
    "LARGE_SAMPLE_ROWS",
    "METRICS",
    "TASKS",
    "TASK_CHOICES",
    "MetricEstimate",
    "MetricSpec",
    "Rows",
    "bootstrap_metrics",
    "delta_method",
    "interval_method",
    "large_sample_metrics",
    "metric_intervals",
    "metric_values",
    "paired_difference",
    "prepare_rows",
    "task_metrics",
]

_CLASSIFIERS = frozenset({"binary", "multiclass"})
_ALL = frozenset(TASKS)


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, direction, the tasks it applies to and the range of its values."""

    name: str
    higher_is_better: bool
    tasks: frozenset[str] = frozenset({"binary"})
    lower: float = 0.0
    upper: float = 1.0


_INF = math.inf
METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", True, _CLASSIFIERS),
        MetricSpec("roc_auc", True, _CLASSIFIERS),
        MetricSpec("f1", True),
        MetricSpec("precision", True),
        MetricSpec("recall", True),
        MetricSpec("log_loss", False, _CLASSIFIERS, 0.0, _INF),
        MetricSpec("brier", False, _CLASSIFIERS, 0.0, 2.0),
        MetricSpec("calibration_error", False, _CLASSIFIERS),
        MetricSpec("f1_macro", True, frozenset({"multiclass"})),
        MetricSpec("f1_weighted", True, frozenset({"multiclass"})),
        MetricSpec("precision_macro", True, frozenset({"multiclass"})),
        MetricSpec("recall_macro", True, frozenset({"multiclass"})),
        MetricSpec("precision_min", True, frozenset({"multiclass"})),
        MetricSpec("recall_min", True, frozenset({"multiclass"})),
        MetricSpec("mae", False, frozenset({"regression"}), 0.0, _INF),
        MetricSpec("rmse", False, frozenset({"regression"}), 0.0, _INF),
        MetricSpec("r2", True, frozenset({"regression"}), -_INF, 1.0),
        MetricSpec("mape", False, frozenset({"regression"}), 0.0, _INF),
        *(MetricSpec(q, False, frozenset({"regression"}), 0.0, _INF) for q in ERROR_QUANTILES),
    )
}
assert all(spec.tasks <= _ALL for spec in METRICS.values())


def task_metrics(task: str) -> list[str]:
    """The metrics defined for `task`, in catalogue order."""
    return [name for name, spec in METRICS.items() if task in spec.tasks]


@dataclass(frozen=True)
class MetricEstimate:
    """A metric's value on the data and its interval; `method` says how the interval was
    made (`bootstrap`, `wilson`, `delong`, `order statistics`, `delta method`) and
    `resamples` how many bootstrap resamples or normal draws it took (0: a closed form)."""

    name: str
    value: float
    low: float
    high: float
    resamples: int
    method: str = "bootstrap"

    def pessimistic(self, higher_is_better: bool) -> float:
        """The bound a gate decides on: the low end for higher-is-better metrics."""
        return self.low if higher_is_better else self.high


class Rows(Protocol):
    """A task's rows prepared once: metric values for any weights over them."""

    order: np.ndarray  # the input row each prepared row came from
    columns: np.ndarray  # per-row values the sum-based metrics add up

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]: ...

    def from_sums(
        self, sums: np.ndarray, total: np.ndarray, names: Sequence[str]
    ) -> dict[str, np.ndarray]: ...


def prepare_rows(
    task: str, y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5
) -> Rows:
    """The rows of `task`: `y_score` is P(class 1), class probabilities (rows x classes, labels
    are column indices) or predicted values; `threshold` is the binary decision threshold."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    _check_inputs(task, y_true, y_score)
    if task == "binary":
        return BinaryRows(y_true, y_score, threshold)
    if task == "multiclass":
        return MulticlassRows(y_true, y_score)
    return RegressionRows(y_true, y_score)


def _check_inputs(task: str, y_true: np.ndarray, y_score: np.ndarray) -> None:
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    dims = 2 if task == "multiclass" else 1
    if y_true.ndim != 1 or y_score.ndim != dims or y_score.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true {y_true.shape} and y_score {y_score.shape} do not fit the {task} task"
        )
    if len(y_true) == 0:
        raise ValueError("no rows to score")


def metric_values(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    masks: np.ndarray | None = None,
    task: str = "binary",
) -> dict[str, np.ndarray]:
    """Point values of `names`; with `masks` (groups x rows, 0/1), one value per group."""
    rows = prepare_rows(task, y_true, y_score, threshold)
    n = len(rows.order)
    weights = np.ones((1, n)) if masks is None else np.asarray(masks, float)[:, rows.order]
    return rows.metrics(weights, list(names))


def _prepared(
    task: str, y_true: np.ndarray, y_score: np.ndarray, names: list[str], threshold: float
) -> tuple[Rows, dict[str, float]]:
    """The task's rows and each metric's value on them (every row weighted 1)."""
    rows = prepare_rows(task, y_true, y_score, threshold)
    ones = np.ones((1, len(rows.order)))
    return rows, {k: float(v[0]) for k, v in rows.metrics(ones, names).items()}


def _weight_chunks(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights (how often each row was drawn), a chunk of resamples at a time."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 1_000_000 // n))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        yield np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        done += size


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _estimates(
    point: dict[str, float], draws: dict[str, list[np.ndarray]], confidence: float, resamples: int
) -> dict[str, MetricEstimate]:
    return {
        name: MetricEstimate(
            name, value, *_interval(np.concatenate(draws[name]), confidence), resamples
        )
        for name, value in point.items()
    }


def bootstrap_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    task: str = "binary",
) -> dict[str, MetricEstimate]:
    """Each metric with a percentile bootstrap interval; the same seed gives the same interval."""
    names = list(names)
    rows, point = _prepared(task, y_true, y_score, names, threshold)
    n = len(rows.order)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    # Weights are used in the prepared order directly: uniform draws of rows in any order
    # are alike.
    for weights in _weight_chunks(n, resamples, seed):
        for name, values in rows.metrics(weights, names).items():
            draws[name].append(values)
    return _estimates(point, draws, confidence, resamples)


def paired_difference(
    y_true: np.ndarray,
    baseline: np.ndarray,
    candidate: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    task: str = "binary",
) -> dict[str, MetricEstimate]:
    """metric(candidate) - metric(baseline) on the same rows, with a paired bootstrap interval.

    Both models are scored on the same resampled rows each time, so what they share (the
    rows' difficulty) cancels out of the difference and the interval is narrow. Resample
    weights are drawn over the rows in the baseline's prepared order (which depends on the
    rows' values, not on the input's order) and carried to the candidate's order.
    """
    names = list(names)
    first = prepare_rows(task, y_true, baseline, threshold)
    second = prepare_rows(task, y_true, candidate, threshold)
    n = len(first.order)
    ones = np.ones((1, n))
    before, after = first.metrics(ones, names), second.metrics(ones, names)
    point = {name: float(after[name][0] - before[name][0]) for name in names}
    # the candidate's j-th prepared row is the baseline's to_candidate[j]-th
    in_first = np.empty(n, dtype=np.int64)
    in_first[first.order] = np.arange(n)
    to_candidate = in_first[second.order]
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in _weight_chunks(n, resamples, seed):
        a = first.metrics(weights, names)
        b = second.metrics(weights[:, to_candidate], names)
        for name in names:
            draws[name].append(b[name] - a[name])
    return _estimates(point, draws, confidence, resamples)


#: From this many rows on, `metric_intervals` uses large-sample intervals (policy:
#: [quality] large_sample_rows): 1000 bootstrap resamples of a million rows take ~35 s.
LARGE_SAMPLE_ROWS = 100_000
#: ... when every class of a classifier's labels has at least this many rows (a rare class
#: makes the sums of its counts far from normal).
LARGE_SAMPLE_CLASS_ROWS = 1_000


def interval_method(y_true: np.ndarray, task: str, large_sample_rows: int) -> str:
    """`large-sample` or `bootstrap`: the stated rule `metric_intervals` follows."""
    if len(y_true) < large_sample_rows:
        return "bootstrap"
    if task != "regression":
        _, counts = np.unique(np.asarray(y_true), return_counts=True)
        if len(counts) < 2 or counts.min() < LARGE_SAMPLE_CLASS_ROWS:
            return "bootstrap"
    return "large-sample"


def _closed_form(rows: Rows, name: str, confidence: float) -> tuple[str, float, float]:
    """Wilson, DeLong or order statistics for `name`, or ("", nan, nan) if it has none."""
    if isinstance(rows, BinaryRows | MulticlassRows) and name == "accuracy":
        return "wilson", *wilson(rows.columns[:, 0].sum(), len(rows.order), confidence)
    if isinstance(rows, BinaryRows) and name in ("precision", "recall"):
        tp, fp, fn = rows.columns[:, 1:4].sum(axis=0)
        trials = tp + (fp if name == "precision" else fn)
        return "wilson", *wilson(tp, trials, confidence)
    if isinstance(rows, BinaryRows) and name == "roc_auc":
        return "delong", *delong(*rows.ranked.placements(), confidence)
    if isinstance(rows, RegressionRows) and name in ERROR_QUANTILES:
        level = ERROR_QUANTILES[name]
        return "order statistics", *quantile_interval(rows.abs_error, level, confidence)
    return "", math.nan, math.nan


def large_sample_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    draws: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    task: str = "binary",
) -> dict[str, MetricEstimate]:
    """Large-sample intervals of the metrics that have one.

    Accuracy, precision and recall: Wilson's interval; binary ROC AUC: DeLong's; absolute
    error quantiles: order statistics; every other metric of column sums (F1, log loss,
    Brier, calibration error, macro and weighted averages, MAE, RMSE, R², MAPE): the delta
    method by simulation (`normal_sums`, `draws` draws). Multiclass ROC AUC has none here
    and is left out: the caller bootstraps it.
    """
    names = list(names)
    rows, point = _prepared(task, y_true, y_score, names, threshold)
    out: dict[str, MetricEstimate] = {}
    by_sums = []
    for name in names:
        method, low, high = _closed_form(rows, name, confidence)
        if method:
            out[name] = MetricEstimate(name, point[name], low, high, 0, method)
        elif name != "roc_auc":
            by_sums.append(name)
    if by_sums:
        out |= delta_method(rows.from_sums, rows.columns, point, by_sums, draws, confidence, seed)
    return {name: out[name] for name in names if name in out}


def delta_method(
    from_sums: Callable[[np.ndarray, np.ndarray, Sequence[str]], dict[str, np.ndarray]],
    columns: np.ndarray | Moments,
    point: dict[str, float],
    names: Sequence[str],
    draws: int,
    confidence: float,
    seed: int,
) -> dict[str, MetricEstimate]:
    """Intervals of the metrics of column sums by the delta method by simulation: the sums
    drawn from their normal approximation (`normal_sums`), each draw's metrics by `from_sums`."""
    n = columns.rows if isinstance(columns, Moments) else len(columns)
    values = from_sums(normal_sums(columns, draws, seed), np.full(draws, float(n)), names)
    return {
        name: MetricEstimate(
            name, point[name], *_interval(values[name], confidence), draws, "delta method"
        )
        for name in names
    }


def metric_intervals(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    task: str = "binary",
    large_sample_rows: int = LARGE_SAMPLE_ROWS,
) -> dict[str, MetricEstimate]:
    """Each metric with an interval, chosen by a stated rule: with at least
    `large_sample_rows` rows (and, for a classifier, `LARGE_SAMPLE_CLASS_ROWS` rows in every
    class) the large-sample intervals of `large_sample_metrics`; otherwise, and for a metric
    without one (multiclass ROC AUC), the percentile bootstrap of `bootstrap_metrics`."""
    names = list(names)
    out: dict[str, MetricEstimate] = {}
    if interval_method(y_true, task, large_sample_rows) == "large-sample":
        out = large_sample_metrics(
            y_true, y_score, names, threshold, resamples, confidence, seed, task
        )
    rest = [name for name in names if name not in out]
    if rest:
        out |= bootstrap_metrics(
            y_true, y_score, rest, threshold, resamples, confidence, seed, task
        )
    return {name: out[name] for name in names}
