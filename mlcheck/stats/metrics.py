"""Binary-classification metrics with vectorised bootstrap intervals.

Every metric is computed from weighted sums over rows, so one code path serves the point
estimate (all weights 1), bootstrap resamples (weights = how often each row was drawn) and
slices (weights = 0/1 membership). Rows are sorted by score once, which makes ROC AUC a
cumulative sum over tie groups instead of a sort per resample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "METRICS",
    "MetricEstimate",
    "MetricSpec",
    "bootstrap_metrics",
    "metric_values",
    "paired_difference",
]

_ECE_BINS = 10
_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, direction and the range its values (and thresholds) live in."""

    name: str
    higher_is_better: bool
    lower: float = 0.0
    upper: float = 1.0


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", True),
        MetricSpec("roc_auc", True),
        MetricSpec("f1", True),
        MetricSpec("precision", True),
        MetricSpec("recall", True),
        MetricSpec("log_loss", False, 0.0, float("inf")),
        MetricSpec("brier", False),
        MetricSpec("calibration_error", False),
    )
}


@dataclass(frozen=True)
class MetricEstimate:
    """A metric's value on the data and its bootstrap interval."""

    name: str
    value: float
    low: float
    high: float
    resamples: int

    def pessimistic(self, higher_is_better: bool) -> float:
        """The bound a gate decides on: the low end for higher-is-better metrics."""
        return self.low if higher_is_better else self.high


class _Prepared:
    """Rows sorted by score, with the per-row columns every metric sums over."""

    def __init__(self, y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> None:
        # by score, then label: rows that tie on both are alike, so the input's row order
        # cannot change which rows a bootstrap resample draws
        order = np.lexsort((np.asarray(y_true), np.asarray(y_score)))
        y = np.asarray(y_true, dtype=np.float64)[order]
        p = np.asarray(y_score, dtype=np.float64)[order]
        predicted = (p >= threshold).astype(np.float64)
        clipped = np.clip(p, _EPS, 1.0 - _EPS)
        bins = np.minimum((p * _ECE_BINS).astype(np.int64), _ECE_BINS - 1)
        onehot = np.zeros((len(p), _ECE_BINS))
        onehot[np.arange(len(p)), bins] = 1.0
        self.order = order
        self.y = y
        self.columns = np.column_stack(
            [
                predicted == y,  # 0 correct
                predicted * y,  # 1 tp
                predicted * (1 - y),  # 2 fp
                (1 - predicted) * y,  # 3 fn
                -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),  # 4 log loss
                (p - y) ** 2,  # 5 brier
                onehot * (p - y)[:, None],  # 6.. calibration gap per bin
            ]
        ).astype(np.float64)
        self.group_starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each metric for each row of `weights` (shape: resamples x rows)."""
        if set(names) <= {"roc_auc"}:  # AUC needs no column sums: skip the matrix product
            return {name: self._auc(weights) for name in names}
        sums = weights @ self.columns
        total = weights.sum(axis=1)
        correct, tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            out: dict[str, np.ndarray] = {}
            for name in names:
                if name == "accuracy":
                    out[name] = correct / total
                elif name == "precision":
                    out[name] = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
                elif name == "recall":
                    out[name] = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
                elif name == "f1":
                    out[name] = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
                elif name == "log_loss":
                    out[name] = sums[:, 4] / total
                elif name == "brier":
                    out[name] = sums[:, 5] / total
                elif name == "calibration_error":
                    out[name] = np.abs(sums[:, 6:]).sum(axis=1) / total
                elif name == "roc_auc":
                    out[name] = self._auc(weights)
                else:
                    raise KeyError(name)
        return out

    def _auc(self, weights: np.ndarray) -> np.ndarray:
        positives = np.add.reduceat(weights * self.y, self.group_starts, axis=1)
        negatives = np.add.reduceat(weights * (1 - self.y), self.group_starts, axis=1)
        below = np.cumsum(negatives, axis=1) - negatives
        wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
        pairs = positives.sum(axis=1) * negatives.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pairs > 0, wins / pairs, np.nan)


def _check_inputs(y_true: np.ndarray, y_score: np.ndarray) -> None:
    if y_true.shape != y_score.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be 1-d and equal")
    if len(y_true) == 0:
        raise ValueError("no rows to score")


def metric_values(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    masks: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Point values of `names`; with `masks` (groups x rows, 0/1), one value per group."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    _check_inputs(y_true, y_score)
    prepared = _Prepared(y_true, y_score, threshold)
    weights = np.ones((1, len(y_true))) if masks is None else np.asarray(masks, float)
    if masks is not None:
        weights = weights[:, prepared.order]
    return prepared.metrics(weights, list(names))


def _weight_chunks(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights (how often each row was drawn), a chunk of resamples at a time."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 4_000_000 // n))
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


def bootstrap_metrics(
    y_true: np.ndarray,
    y_score: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricEstimate]:
    """Each metric with a percentile bootstrap interval; the same seed gives the same interval."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    _check_inputs(y_true, y_score)
    names = list(names)
    prepared = _Prepared(y_true, y_score, threshold)
    n = len(y_true)
    point = prepared.metrics(np.ones((1, n)), names)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    # Weights are used in sorted order directly: uniform draws of rows in any order are alike.
    for weights in _weight_chunks(n, resamples, seed):
        for name, values in prepared.metrics(weights, names).items():
            draws[name].append(values)
    return {
        name: MetricEstimate(
            name,
            float(point[name][0]),
            *_interval(np.concatenate(draws[name]), confidence),
            resamples,
        )
        for name in names
    }


def paired_difference(
    y_true: np.ndarray,
    baseline: np.ndarray,
    candidate: np.ndarray,
    names: Iterable[str],
    threshold: float = 0.5,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricEstimate]:
    """metric(candidate) - metric(baseline) on the same rows, with a paired bootstrap interval.

    Both models are scored on the same resampled rows each time, so what they share (the
    rows' difficulty) cancels out of the difference and the interval is narrow.
    """
    y_true = np.asarray(y_true)
    baseline, candidate = np.asarray(baseline), np.asarray(candidate)
    _check_inputs(y_true, baseline)
    _check_inputs(y_true, candidate)
    names = list(names)
    first, second = _Prepared(y_true, baseline, threshold), _Prepared(y_true, candidate, threshold)
    n = len(y_true)
    ones = np.ones((1, n))
    before, after = first.metrics(ones, names), second.metrics(ones, names)
    point = {name: float(after[name][0] - before[name][0]) for name in names}
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for weights in _weight_chunks(n, resamples, seed):
        a = first.metrics(weights[:, first.order], names)
        b = second.metrics(weights[:, second.order], names)
        for name in names:
            draws[name].append(b[name] - a[name])
    return {
        name: MetricEstimate(
            name, point[name], *_interval(np.concatenate(draws[name]), confidence), resamples
        )
        for name in names
    }
