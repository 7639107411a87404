"""Quality metrics of the three tasks with vectorised bootstrap intervals.

An interval never collapses on a small sample (`steadied`): a proportion of rows with few
successes or failures gets the exact interval (eight correct rows bootstrap to [1, 1]), and
any other metric whose interval has zero width is marked `COLLAPSED` for the gate to refuse.

Every metric is computed from weighted sums over rows, so one code path serves the point
estimate (all weights 1), bootstrap resamples (weights = how often each row was drawn) and
slices (weights = 0/1 membership). Each task prepares its rows once (`BinaryRows`,
`MulticlassRows`, `RegressionRows`); the bootstrap here is the same for all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from mlcheck.stats.binary import BinaryRows
from mlcheck.stats.catalogue import (
    ERROR_QUANTILES,
    LARGE_SAMPLE_ROWS,
)
from mlcheck.stats.intervals import (
    clopper_pearson,
    delong,
    normal_sums,
    quantile_interval,
    wilson,
)
from mlcheck.stats.moments import Moments
from mlcheck.stats.multiclass import MulticlassRows
from mlcheck.stats.regression import RegressionRows
from mlcheck.stats.tasks import Task, as_task

__all__ = [
    "COLLAPSED",
    "FEW_OUTCOMES",
    "LARGE_SAMPLE_CLASS_ROWS",
    "MetricEstimate",
    "Rows",
    "bootstrap_metrics",
    "delta_method",
    "exact_counts",
    "interval_method",
    "large_sample_metrics",
    "metric_intervals",
    "metric_values",
    "paired_difference",
    "prepare_rows",
    "proportion_counts",
    "steadied",
]


@dataclass(frozen=True)
class MetricEstimate:
    """A metric's value on the data and its interval; `method` says how the interval was
    made (`bootstrap`, `wilson`, `clopper-pearson`, `delong`, `order statistics`,
    `delta method`, or `COLLAPSED`: zero width, nothing to decide on) and
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
    task: Task, y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5
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


def _check_inputs(task: Task, y_true: np.ndarray, y_score: np.ndarray) -> None:
    as_task(task)  # a caller without types (a user's suite) may pass any text
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
    task: Task = "binary",
) -> dict[str, np.ndarray]:
    """Point values of `names`; with `masks` (groups x rows, 0/1), one value per group."""
    rows = prepare_rows(task, y_true, y_score, threshold)
    n = len(rows.order)
    weights = np.ones((1, n)) if masks is None else np.asarray(masks, float)[:, rows.order]
    return rows.metrics(weights, list(names))


def _prepared(
    task: Task,
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: list[str],
    threshold: float,
    rows: Rows | None = None,
) -> tuple[Rows, dict[str, float]]:
    """The task's rows (prepared unless given) and each metric's value on them (every row
    weighted 1)."""
    rows = rows if rows is not None else prepare_rows(task, y_true, y_score, threshold)
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
    task: Task = "binary",
) -> dict[str, MetricEstimate]:
    """Each metric with a percentile bootstrap interval; the same seed gives the same interval."""
    rows, point = _prepared(task, y_true, y_score, list(names), threshold)
    return _bootstrap(rows, point, resamples, confidence, seed)


def _bootstrap(
    rows: Rows, point: dict[str, float], resamples: int, confidence: float, seed: int
) -> dict[str, MetricEstimate]:
    """`bootstrap_metrics` of the metrics in `point` (their values) on prepared rows."""
    names = list(point)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    # Weights are used in the prepared order directly: uniform draws of rows in any order
    # are alike.
    for weights in _weight_chunks(len(rows.order), resamples, seed):
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
    task: Task = "binary",
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


#: ... when every class of a classifier's labels has at least this many rows (a rare class
#: makes the sums of its counts far from normal).
LARGE_SAMPLE_CLASS_ROWS = 1_000


def interval_method(y_true: np.ndarray, task: Task, large_sample_rows: int) -> str:
    """`large-sample` or `bootstrap`: the stated rule `metric_intervals` follows."""
    if len(y_true) < large_sample_rows:
        return "bootstrap"
    if task != "regression":
        _, counts = np.unique(np.asarray(y_true), return_counts=True)
        if len(counts) < 2 or counts.min() < LARGE_SAMPLE_CLASS_ROWS:
            return "bootstrap"
    return "large-sample"


#: A proportion with fewer successes or failures than this gets the exact interval: the
#: bootstrap and the normal approximations need about 10 of each (the np >= 10 rule).
FEW_OUTCOMES = 10
#: `MetricEstimate.method` of a zero-width interval with no exact one to take its place
#: (all bootstrap resamples alike): no gate can decide on it.
COLLAPSED = "collapsed"


def proportion_counts(
    task: Task, name: str, sums: np.ndarray, rows: float
) -> tuple[float, float] | None:
    """(successes, trials) of a metric that is a share of rows, from the column sums of
    `rows` prepared rows: accuracy, binary precision and recall; else None."""
    if task != "regression" and name == "accuracy":
        return float(sums[0]), float(rows)
    if task == "binary" and name in ("precision", "recall"):
        tp, fp, fn = (float(v) for v in sums[1:4])
        return tp, tp + (fp if name == "precision" else fn)
    return None


def exact_counts(
    task: Task, name: str, value: float, sums: np.ndarray, rows: float
) -> tuple[float, float] | None:
    """`proportion_counts`, and for a binary ROC AUC of exactly 0 or 1 the
    min(positives, negatives) disjoint positive-negative pairs, every one ranked wrong or
    right: independent trials of the AUC, so the exact interval of their share bounds it."""
    if task == "binary" and name == "roc_auc" and value in (0.0, 1.0):
        positives = float(sums[1] + sums[3])  # TP + FN
        pairs = min(positives, rows - positives)
        return value * pairs, pairs
    return proportion_counts(task, name, sums, rows)


def steadied(
    estimate: MetricEstimate, counts: tuple[float, float] | None, confidence: float
) -> MetricEstimate:
    """`estimate`, or what a small sample allows in its place: the Clopper-Pearson interval
    of `counts` (successes, trials; `exact_counts`) with fewer than `FEW_OUTCOMES` successes
    or failures or a zero-width interval; without counts, a zero-width interval `COLLAPSED`."""
    # zero width up to rounding (sums of a constant column differ in the last bits); NaN
    # (undefined) is close to nothing
    collapsed = math.isclose(estimate.low, estimate.high, rel_tol=1e-9, abs_tol=1e-12)
    if counts is None or counts[1] <= 0:
        return replace(estimate, method=COLLAPSED) if collapsed else estimate
    successes, trials = counts
    if collapsed or min(successes, trials - successes) < FEW_OUTCOMES:
        low, high = clopper_pearson(successes, trials, confidence)
        return replace(estimate, low=low, high=high, resamples=0, method="clopper-pearson")
    return estimate


def _closed_form(
    rows: Rows, task: Task, name: str, sums: np.ndarray, confidence: float
) -> tuple[str, float, float]:
    """Wilson, DeLong or order statistics for `name`, or ("", nan, nan) if it has none;
    `sums`: the rows' column sums."""
    counts = proportion_counts(task, name, sums, len(rows.order))
    if counts is not None:
        return "wilson", *wilson(*counts, confidence)
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
    task: Task = "binary",
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
    out = _large_sample(rows, task, point, draws, confidence, seed)
    return {name: out[name] for name in names if name in out}


def _large_sample(
    rows: Rows, task: Task, point: dict[str, float], draws: int, confidence: float, seed: int
) -> dict[str, MetricEstimate]:
    """`large_sample_metrics` of the metrics in `point` (their values) on prepared rows."""
    out: dict[str, MetricEstimate] = {}
    by_sums = []
    sums = rows.columns.sum(axis=0)
    for name in point:
        method, low, high = _closed_form(rows, task, name, sums, confidence)
        if method:
            out[name] = MetricEstimate(name, point[name], low, high, 0, method)
        elif name != "roc_auc":
            by_sums.append(name)
    if by_sums:
        out |= delta_method(rows.from_sums, rows.columns, point, by_sums, draws, confidence, seed)
    return out


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
    task: Task = "binary",
    large_sample_rows: int = LARGE_SAMPLE_ROWS,
    rows: Rows | None = None,
) -> dict[str, MetricEstimate]:
    """Each metric with an interval, chosen by a stated rule: with at least
    `large_sample_rows` rows (and, for a classifier, `LARGE_SAMPLE_CLASS_ROWS` rows in every
    class) the large-sample intervals of `large_sample_metrics`; otherwise, and for a metric
    without one (multiclass ROC AUC), the percentile bootstrap of `bootstrap_metrics`.
    Either way a small sample's interval is `steadied`: exact, or `COLLAPSED`. `rows`:
    `prepare_rows` of the same arguments, when the caller prepared them already."""
    names = list(names)
    rows, point = _prepared(task, y_true, y_score, names, threshold, rows)
    out: dict[str, MetricEstimate] = {}
    if interval_method(y_true, task, large_sample_rows) == "large-sample":
        out = _large_sample(rows, task, point, resamples, confidence, seed)
    rest = {name: value for name, value in point.items() if name not in out}
    if rest:
        out |= _bootstrap(rows, rest, resamples, confidence, seed)
    sums, n = rows.columns.sum(axis=0), len(rows.order)
    return {
        name: steadied(out[name], exact_counts(task, name, point[name], sums, n), confidence)
        for name in names
    }
