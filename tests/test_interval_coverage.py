"""The large-sample intervals hold their level: over 1000 simulated data sets of 20,000 rows
whose true metric values are known in closed form, a nominal 95% interval covers the truth
94-96% of the time (Wilson, DeLong, order statistics and the delta method by normal sums).

With 1000 data sets one metric's observed coverage has a standard error of 0.7 points, so
even an exact 95% interval lands outside 94-96% for one metric in seven. The test therefore
holds each method's mean coverage over its metrics to 94-96% and each metric's own to 93-97%
(three standard errors): an interval that really covered 92% or 98% fails either way. The
simulations are seeded, so the test is deterministic.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from mlcheck.stats.metrics import large_sample_metrics, metric_intervals

pytestmark = pytest.mark.slow  # ~60 s of simulation, no servers

SIMULATIONS = 1000
ROWS = 20_000
LEVEL = 0.95


def _assert_level(truth: dict[str, float], sample, task: str) -> None:
    """Simulate, then check each method's and each metric's coverage of the true values."""
    rng = np.random.default_rng(20261129)
    hits = dict.fromkeys(truth, 0)
    methods: dict[str, str] = {}
    for i in range(SIMULATIONS):
        y_true, y_score = sample(rng)
        estimates = large_sample_metrics(y_true, y_score, truth, seed=i, task=task)
        for name, value in truth.items():
            hits[name] += estimates[name].low <= value <= estimates[name].high
            methods[name] = estimates[name].method
    coverage = {name: count / SIMULATIONS for name, count in hits.items()}
    by_method = {
        method: float(np.mean([coverage[n] for n in truth if methods[n] == method]))
        for method in set(methods.values())
    }
    assert all(0.94 <= share <= 0.96 for share in by_method.values()), (by_method, coverage)
    assert all(0.93 <= share <= 0.97 for share in coverage.values()), (by_method, coverage)


# --- binary: binormal scores, a miscalibrated sigmoid -------------------------------------
PREVALENCE, SEPARATION, SHIFT = 0.3, 1.5, 1.0


def _probability(score: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-(score - SHIFT)))


def _binary_truth() -> dict[str, float]:
    """Population values: positives score N(SEPARATION, 1), negatives N(0, 1)."""
    tp = PREVALENCE * stats.norm.sf(SHIFT - SEPARATION)  # p >= 0.5 <=> score >= SHIFT
    fp = (1 - PREVALENCE) * stats.norm.sf(SHIFT)
    fn = PREVALENCE - tp

    def expected(per_row, low: float = -12.0, high: float = 14.0) -> float:
        """E[per_row(p, y)] over the population, for scores in [low, high]."""
        pos = integrate.quad(
            lambda s: per_row(_probability(s), 1) * stats.norm.pdf(s - SEPARATION), low, high
        )[0]
        neg = integrate.quad(lambda s: per_row(_probability(s), 0) * stats.norm.pdf(s), low, high)
        return PREVALENCE * pos + (1 - PREVALENCE) * neg[0]

    def score_at(p: float) -> float:
        return SHIFT + math.log(p / (1 - p))

    edges = [-12.0, *(score_at(b / 10) for b in range(1, 10)), 14.0]
    return {
        "accuracy": tp + (1 - PREVALENCE) - fp,
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "roc_auc": float(stats.norm.cdf(SEPARATION / math.sqrt(2))),
        "log_loss": expected(lambda p, y: -math.log(p if y else 1 - p)),
        "brier": expected(lambda p, y: (p - y) ** 2),
        "calibration_error": sum(
            abs(expected(lambda p, y: p - y, low, high)) for low, high in itertools.pairwise(edges)
        ),
    }


def _binary_sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(ROWS) < PREVALENCE).astype(np.int64)
    return y, _probability(rng.normal(np.where(y == 1, SEPARATION, 0.0), 1.0))


def test_binary_intervals_hold_their_level():
    _assert_level(_binary_truth(), _binary_sample, "binary")


# --- regression: errors N(BIAS, NOISE) ---------------------------------------------------
BIAS, NOISE = 0.1, 0.5


def _regression_truth() -> dict[str, float]:
    folded = stats.foldnorm(abs(BIAS) / NOISE, scale=NOISE)  # |error|

    def quantile(level: float) -> float:
        return optimize.brentq(lambda q: folded.cdf(q) - level, 0.0, 10.0)

    mse = BIAS**2 + NOISE**2
    return {
        "mae": float(folded.mean()),
        "rmse": math.sqrt(mse),
        "r2": 1.0 - mse / (1.0 + NOISE**2),  # the target is x + noise, x ~ N(0, 1)
        "abs_error_p50": quantile(0.50),
        "abs_error_p90": quantile(0.90),
        "abs_error_p99": quantile(0.99),
    }


def _regression_sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=ROWS)
    return 2.0 + x + rng.normal(0.0, NOISE, ROWS), 2.0 + x + BIAS


def test_regression_intervals_hold_their_level():
    _assert_level(_regression_truth(), _regression_sample, "regression")


# --- multiclass: a fixed confusion matrix, one probability vector per predicted class -----
CLASS_SHARES = np.array([0.5, 0.3, 0.2])
CONFUSION = np.array([[0.85, 0.10, 0.05], [0.15, 0.75, 0.10], [0.10, 0.30, 0.60]])
PROBABILITIES = np.array([[0.75, 0.15, 0.10], [0.25, 0.55, 0.20], [0.05, 0.30, 0.65]])


def _multiclass_truth() -> dict[str, float]:
    joint = CLASS_SHARES[:, None] * CONFUSION  # P(label i, predicted j)
    tp, predicted, support = np.diag(joint), joint.sum(axis=0), CLASS_SHARES
    precision, recall = tp / predicted, tp / support
    f1 = 2 * tp / (predicted + support)
    onehot = np.eye(3)
    loss = -np.log(PROBABILITIES.T)  # [i, j]: -log P(label i) when predicting j
    squared = ((PROBABILITIES[None, :, :] - onehot[:, None, :]) ** 2).sum(axis=2)
    confidence = PROBABILITIES.max(axis=1)
    gaps = np.zeros(10)
    for j in range(3):
        gaps[min(int(confidence[j] * 10), 9)] += predicted[j] * confidence[j] - tp[j]
    return {
        "accuracy": float(tp.sum()),
        "log_loss": float((joint * loss).sum()),
        "brier": float((joint * squared).sum()),
        "f1_macro": float(f1.mean()),
        "f1_weighted": float((f1 * support).sum()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "recall_min": float(recall.min()),
        "precision_min": float(precision.min()),
        "calibration_error": float(np.abs(gaps).sum()),
    }


def _multiclass_sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.choice(3, size=ROWS, p=CLASS_SHARES)
    cumulative = CONFUSION.cumsum(axis=1)[labels]
    predicted = (rng.random(ROWS)[:, None] > cumulative).sum(axis=1)
    return labels, PROBABILITIES[predicted]


def test_multiclass_intervals_hold_their_level():
    _assert_level(_multiclass_truth(), _multiclass_sample, "multiclass")


def test_the_rule_picks_large_sample_intervals_only_with_enough_rows_in_every_class():
    rng = np.random.default_rng(1)
    y, p = _binary_sample(rng)
    large = metric_intervals(y, p, ["accuracy", "roc_auc", "f1"], large_sample_rows=ROWS)
    assert [e.method for e in large.values()] == ["wilson", "delong", "delta method"]
    small = metric_intervals(y, p, ["accuracy"], resamples=200, large_sample_rows=ROWS + 1)
    assert small["accuracy"].method == "bootstrap" and small["accuracy"].resamples == 200
    rare = y.copy()
    rare[np.flatnonzero(rare)[20:]] = 0  # 20 positives: too few for the normal sums
    assert metric_intervals(rare, p, ["f1"], resamples=200, large_sample_rows=ROWS)[
        "f1"
    ].method == ("bootstrap")
    # both intervals of the same data agree where both are valid
    both = metric_intervals(y, p, ["log_loss"], large_sample_rows=ROWS)["log_loss"]
    boot = metric_intervals(y, p, ["log_loss"], large_sample_rows=ROWS + 1)["log_loss"]
    assert both.value == boot.value
    assert abs(both.low - boot.low) < 0.2 * (boot.high - boot.low)
    assert abs(both.high - boot.high) < 0.2 * (boot.high - boot.low)


def test_multiclass_auc_keeps_the_bootstrap():
    y, p = _multiclass_sample(np.random.default_rng(2))
    p = np.clip(p + np.random.default_rng(3).normal(0, 0.01, p.shape), 0.001, None)
    p /= p.sum(axis=1, keepdims=True)
    estimate = metric_intervals(
        y, p, ["roc_auc"], resamples=100, task="multiclass", large_sample_rows=ROWS
    )["roc_auc"]
    assert estimate.method == "bootstrap" and estimate.low < estimate.value < estimate.high
