"""Mergeable summaries of a model's quality, one per partition, and intervals from them.

A partition's rows (`prepare_rows`) reduce to the moments of their metric columns (`Moments`:
exact sums and covariance), and for the metrics that are not sums, to fine histograms:

- binary ROC AUC: positives and negatives per score bin (`SCORE_BINS` bins even in logit);
  pairs in one bin get half credit, so the AUC is within `auc_bound` of the exact one
  (half the share of positive-negative pairs that share a bin; 0 when every bin holds one
  distinct score);
- absolute error quantiles (regression): rows per error bin (`ERROR_BINS` bins even in log10,
  exact zeros apart): the quantile is known to its bin.

Merged sketches give the large-sample intervals `large_sample_metrics` gives in memory: Wilson
(exact counts), DeLong (placement values per bin), order statistics (ranks to bins) and the
delta method by simulation from the merged moments, drawn with the same seed; and, like
`metric_intervals`, steadied where few successes or failures (or a zero-width interval) call
for the exact interval or a refusal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mlcheck.errors import DataError
from mlcheck.stats.binary import BinaryRows, binary_from_sums
from mlcheck.stats.catalogue import ERROR_QUANTILES
from mlcheck.stats.intervals import wilson
from mlcheck.stats.metrics import (
    LARGE_SAMPLE_CLASS_ROWS,
    MetricEstimate,
    delta_method,
    exact_counts,
    prepare_rows,
    proportion_counts,
    steadied,
)
from mlcheck.stats.moments import Moments
from mlcheck.stats.multiclass import MulticlassRows, class_scores, multiclass_from_sums
from mlcheck.stats.regression import RegressionRows, constant_spread, regression_from_sums
from mlcheck.stats.tasks import Task

__all__ = ["ERROR_BINS", "SCORE_BINS", "QualitySketch", "sketch_metrics"]

#: Score bins for ROC AUC, even in logit(p) over [-LOGIT_RANGE, LOGIT_RANGE].
SCORE_BINS = 1 << 15
LOGIT_RANGE = 21.0
#: Error bins for the error quantiles, even in log10 over [-ERROR_DECADES, ERROR_DECADES].
ERROR_BINS = 1 << 15
ERROR_DECADES = 15.0


def _score_bins(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    logit = np.log(clipped) - np.log1p(-clipped)
    index = np.floor((logit + LOGIT_RANGE) / (2 * LOGIT_RANGE) * SCORE_BINS)
    return np.clip(index, 0, SCORE_BINS - 1).astype(np.int64)


def _error_bins(errors: np.ndarray) -> np.ndarray:
    """Bin 0 holds exact zeros; bin i >= 1 the errors in [edge(i-1), edge(i))."""
    with np.errstate(divide="ignore"):
        logs = np.log10(errors)
    index = np.floor((logs + ERROR_DECADES) / (2 * ERROR_DECADES) * ERROR_BINS)
    index = np.clip(index, 0, ERROR_BINS - 1).astype(np.int64) + 1
    index[errors <= 0] = 0
    return index


def _error_edge(index: int) -> float:
    """The lower edge of error bin `index` (>= 1)."""
    return float(10 ** ((index - 1) / ERROR_BINS * 2 * ERROR_DECADES - ERROR_DECADES))


@dataclass(frozen=True)
class QualitySketch:
    """One partition's (or merged partitions') quality summary of `task`."""

    task: Task
    classes: int  # columns of the score matrix (multiclass), else 0
    moments: Moments
    labels: np.ndarray  # rows per class (classifiers); [rows] (regression)
    scores: np.ndarray | None  # binary: (2, SCORE_BINS) negatives, positives per bin
    errors: np.ndarray | None  # regression: rows per error bin
    largest_target: float  # regression: max |y| (what "a constant target" is judged by)
    centre: float = 0.0  # regression: what the targets were centred on

    @classmethod
    def of(
        cls,
        task: Task,
        y_true: np.ndarray,
        y_score: np.ndarray,
        threshold: float = 0.5,
        centre: float = 0.0,
    ) -> QualitySketch:
        """`centre`: the number regression targets are centred on (the same in every
        partition, so their sums merge)."""
        y_true, y_score = np.asarray(y_true), np.asarray(y_score)
        if task == "regression":
            rows: BinaryRows | MulticlassRows | RegressionRows = RegressionRows(
                y_true, y_score, centre
            )
        else:
            rows = prepare_rows(task, y_true, y_score, threshold)  # type: ignore[assignment]
        scores = errors = None
        classes = y_score.shape[1] if task == "multiclass" else 0
        largest = 0.0
        if task == "binary":
            bins = _score_bins(y_score.astype(np.float64))
            positive = np.asarray(y_true, dtype=np.float64) > 0
            scores = np.stack(
                [
                    np.bincount(bins[~positive], minlength=SCORE_BINS),
                    np.bincount(bins[positive], minlength=SCORE_BINS),
                ]
            ).astype(np.int64)
            labels = np.array([int((~positive).sum()), int(positive.sum())])
        elif task == "multiclass":
            labels = np.bincount(y_true.astype(np.int64), minlength=classes)
        else:
            assert isinstance(rows, RegressionRows)
            errors = np.bincount(_error_bins(rows.abs_error), minlength=ERROR_BINS + 1)
            labels = np.array([len(y_true)])
            largest = float(np.abs(y_true).max()) if len(y_true) else 0.0
        moments = Moments.of(rows.columns)
        return cls(task, classes, moments, labels, scores, errors, largest, centre)

    def merge(self, other: QualitySketch) -> QualitySketch:
        return QualitySketch(
            self.task,
            max(self.classes, other.classes),
            self.moments.merge(other.moments),
            _add(self.labels, other.labels),
            None if self.scores is None else self.scores + other.scores,
            None if self.errors is None else self.errors + other.errors,
            max(self.largest_target, other.largest_target),
            self.centre,
        )

    @property
    def rows(self) -> int:
        return self.moments.rows

    @property
    def target_mean(self) -> float:
        """A regressor's mean target."""
        return float(self.centre + self.moments.mean[2])

    @property
    def target_std(self) -> float:
        """A regressor's target's population std."""
        return float(np.sqrt(self.moments.covariance[2, 2]))

    def class_counts(self) -> dict[str, np.ndarray]:
        """A multiclass model's precision, recall, f1 and support per class, as
        `multiclass.class_counts` gives them for rows in memory."""
        k = self.classes
        return class_scores(*np.split(self.moments.mean[3 : 3 + 3 * k] * self.rows, 3))

    def from_sums(self, sums: np.ndarray, total: np.ndarray, names: Sequence[str]) -> dict:
        if self.task == "binary":
            return binary_from_sums(sums, total, names)
        if self.task == "multiclass":
            return multiclass_from_sums(sums, total, names, self.classes)
        mean_square = float(self.moments.covariance[2, 2] + self.moments.mean[2] ** 2)
        constant = constant_spread(mean_square, self.largest_target)
        return regression_from_sums(sums, total, names, constant)

    def auc(self) -> tuple[float, float, float]:
        """Binary ROC AUC from the score bins, the bound on its distance from the exact AUC,
        and DeLong's standard error from the placement values per bin."""
        assert self.scores is not None
        negatives, positives = self.scores.astype(np.float64)
        total_neg, total_pos = negatives.sum(), positives.sum()
        if total_neg == 0 or total_pos == 0:
            return math.nan, math.nan, math.nan
        beaten = (np.cumsum(negatives) - 0.5 * negatives) / total_neg  # per positive
        beating = (total_pos - np.cumsum(positives) + 0.5 * positives) / total_pos
        auc = float(np.dot(positives, beaten) / total_pos)
        bound = float(0.5 * np.dot(positives, negatives) / (total_pos * total_neg))
        var_pos = np.dot(positives, (beaten - auc) ** 2) / max(total_pos - 1, 1)
        var_neg = np.dot(negatives, (beating - auc) ** 2) / max(total_neg - 1, 1)
        se = math.sqrt(var_pos / total_pos + var_neg / total_neg)
        return auc, bound, se

    def error_quantile(self, level: float, confidence: float) -> tuple[float, float, float]:
        """The `level` quantile of the absolute error (the middle of its bin, geometric) and
        an order-statistics interval widened to whole bins."""
        assert self.errors is not None
        cumulative = np.cumsum(self.errors)
        n = int(cumulative[-1])
        alpha = (1.0 - confidence) / 2.0
        ranks = (
            math.ceil(level * n),
            int(stats.binom.ppf(alpha, n, level)),
            int(stats.binom.ppf(1 - alpha, n, level)) + 1,
        )
        found = [int(np.searchsorted(cumulative, max(min(r, n), 1))) for r in ranks]
        point = self._bin_value(found[0], "middle")
        return point, self._bin_value(found[1], "low"), self._bin_value(found[2], "high")

    @staticmethod
    def _bin_value(index: int, where: str) -> float:
        if index == 0:
            return 0.0
        low, high = _error_edge(index), _error_edge(index + 1)
        return {"low": low, "high": high, "middle": math.sqrt(low * high)}[where]


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = max(len(a), len(b))
    return np.pad(a, (0, size - len(a))) + np.pad(b, (0, size - len(b)))


def sketch_metrics(
    sketch: QualitySketch,
    names: Sequence[str],
    draws: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricEstimate]:
    """Each metric's value and large-sample interval from merged partition summaries.

    These intervals hold at large n only: a classifier needs `LARGE_SAMPLE_CLASS_ROWS` rows in
    every class (else a DataError: such data fits one machine, whose bootstrap is exact).
    Multiclass ROC AUC has no large-sample interval: a DataError names it.
    """
    names = list(names)
    if sketch.task != "regression":
        present = sketch.labels[sketch.labels > 0]
        if len(present) < 2 or present.min() < LARGE_SAMPLE_CLASS_ROWS:
            raise DataError(
                f"the labels' classes have {sketch.labels.tolist()} rows; intervals over "
                f"partitions need >= {LARGE_SAMPLE_CLASS_ROWS:,} rows in each of two or more "
                "classes; gate a sample this small in memory (--engine local)"
            )
    if sketch.task == "multiclass" and "roc_auc" in names:
        raise DataError(
            "multiclass roc_auc has no interval over partitions (it needs a bootstrap); "
            "gate on accuracy, f1_macro or log_loss with --engine dask, or on roc_auc with "
            "--engine local"
        )
    n = sketch.rows
    sums = sketch.moments.mean * n
    total = np.array([float(n)])
    point = {k: float(v[0]) for k, v in sketch.from_sums(sums[None, :], total, names).items()}
    out: dict[str, MetricEstimate] = {}
    by_sums = []
    for name in names:
        counts = proportion_counts(sketch.task, name, sums, n)
        if counts is not None:
            low, high = wilson(*counts, confidence)
            out[name] = MetricEstimate(name, point[name], low, high, 0, "wilson")
        elif name == "roc_auc":
            auc, bound, se = sketch.auc()
            half = float(stats.norm.ppf(0.5 + confidence / 2.0)) * se
            low, high = max(0.0, auc - half - bound), min(1.0, auc + half + bound)
            out[name] = MetricEstimate(name, auc, low, high, 0, "delong (score bins)")
        elif name in ERROR_QUANTILES:
            value, low, high = sketch.error_quantile(ERROR_QUANTILES[name], confidence)
            out[name] = MetricEstimate(name, value, low, high, 0, "order statistics (bins)")
        else:
            by_sums.append(name)
    if by_sums:
        out |= delta_method(
            sketch.from_sums, sketch.moments, point, by_sums, draws, confidence, seed
        )
    return {
        name: steadied(
            out[name], exact_counts(sketch.task, name, out[name].value, sums, n), confidence
        )
        for name in names
    }
