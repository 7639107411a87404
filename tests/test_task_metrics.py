"""Multiclass and regression metrics against scikit-learn's, on random inputs (hypothesis):
ties, a class missing from a resample, constant predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlcheck.stats.catalogue import task_metrics
from mlcheck.stats.metrics import bootstrap_metrics, metric_values, paired_difference

FAST = settings(max_examples=60, deadline=None)


@st.composite
def _multiclass(draw, min_rows: int = 2):
    """Labels 0..k-1 and probabilities rounded coarsely (ties), sometimes constant."""
    k = draw(st.integers(3, 5))
    n = draw(st.integers(min_rows, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, draw(st.integers(1, k)) if draw(st.booleans()) else k, n)
    raw = np.round(rng.random((n, k)), draw(st.sampled_from([1, 2, 6]))) + 1e-3
    if draw(st.booleans()):
        raw[:] = raw[0]  # constant predictions
    return labels, raw / raw.sum(axis=1, keepdims=True), k


def _value(name, labels, probabilities):
    return float(metric_values(labels, probabilities, [name], task="multiclass")[name][0])


def _sk_multiclass(name, y, p, k):
    pred = np.argmax(p, axis=1)
    present = np.union1d(y, pred)
    recall = skm.recall_score(y, pred, labels=np.arange(k), average=None, zero_division=0)
    precision = skm.precision_score(y, pred, labels=np.arange(k), average=None, zero_division=0)
    return {
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "f1_macro": lambda: skm.f1_score(y, pred, average="macro", zero_division=0),
        "f1_weighted": lambda: skm.f1_score(y, pred, average="weighted", zero_division=0),
        "precision_macro": lambda: skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": lambda: skm.recall_score(y, pred, average="macro", zero_division=0),
        "recall_min": lambda: recall[np.isin(np.arange(k), y)].min(),
        "precision_min": lambda: precision[np.isin(np.arange(k), pred)].min(),
        "log_loss": lambda: skm.log_loss(y, p, labels=np.arange(k)),
        "brier": lambda: float(np.mean(np.sum((p - np.eye(k)[y]) ** 2, axis=1))),
        "roc_auc": lambda: skm.roc_auc_score(y, p, multi_class="ovr", labels=np.arange(k)),
    }[name](), present


@FAST
@given(data=_multiclass())
def test_multiclass_metrics_match_sklearn(data):
    labels, probabilities, k = data
    for name in task_metrics("multiclass"):
        if name == "calibration_error":
            continue
        if name == "roc_auc" and len(np.unique(labels)) < k:
            assert not math.isnan(_value(name, labels, probabilities)) or len(set(labels)) < 2
            continue  # scikit-learn needs every class in the labels
        expected, _ = _sk_multiclass(name, labels, probabilities, k)
        assert _value(name, labels, probabilities) == pytest.approx(expected, abs=1e-9), name


def test_multiclass_brier_matches_sklearn_where_it_has_one():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 500)
    y = rng.integers(0, 3, 500)
    expected = skm.brier_score_loss(y, p, labels=[0, 1, 2])
    # scikit-learn scales the multiclass Brier score by 1/2 on some versions; ours is the sum
    assert _value("brier", y, p) in (pytest.approx(expected), pytest.approx(2 * expected))


@FAST
@given(data=_multiclass(min_rows=5), seed=st.integers(0, 1000))
def test_a_resample_missing_a_class_matches_sklearn_on_the_resampled_rows(data, seed):
    labels, probabilities, k = data
    rng = np.random.default_rng(seed)
    drop = rng.integers(0, k)
    keep = labels != drop
    if keep.sum() == 0:
        return
    counts = np.where(keep, rng.integers(1, 3, len(labels)), 0).astype(float)
    rows = np.repeat(np.arange(len(labels)), counts.astype(int))
    for name in ("accuracy", "f1_macro", "f1_weighted", "recall_min", "log_loss"):
        weighted = metric_values(
            labels, probabilities, [name], masks=counts[None, :], task="multiclass"
        )[name][0]
        expected, _ = _sk_multiclass(name, labels[rows], probabilities[rows], k)
        assert weighted == pytest.approx(expected, abs=1e-9), name


@st.composite
def _regression(draw):
    n = draw(st.integers(2, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = np.round(rng.normal(100, 20, n), draw(st.sampled_from([0, 2, 6])))
    if draw(st.booleans()):
        pred = np.full(n, draw(st.floats(50, 150)))  # constant predictions
    else:
        pred = np.round(y + rng.normal(0, 10, n), 1)
    if draw(st.integers(0, 5)) == 0:
        y = np.full(n, y[0])  # constant target
    return y, pred


@FAST
@given(data=_regression())
def test_regression_metrics_match_sklearn(data):
    y, pred = data
    values = metric_values(y, pred, task_metrics("regression"), task="regression")
    errors = np.abs(pred - y)
    expected = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        # a constant target: scikit-learn's documented 1 (exact) or 0, which its own float
        # mean sometimes misses (a denominator of 1e-27 instead of 0)
        "r2": float(np.all(pred == y)) if np.all(y == y[0]) else skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "abs_error_p50": np.quantile(errors, 0.5, method="inverted_cdf"),
        "abs_error_p90": np.quantile(errors, 0.9, method="inverted_cdf"),
        "abs_error_p99": np.quantile(errors, 0.99, method="inverted_cdf"),
    }
    for name, value in expected.items():
        assert values[name][0] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_mape_is_infinite_when_a_target_is_zero():
    values = metric_values(np.array([0.0, 1.0]), np.array([0.5, 1.0]), ["mape"], task="regression")
    assert values["mape"][0] == math.inf


def test_bootstrap_intervals_hold_the_estimate_for_each_task():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 3000)
    p = rng.dirichlet(np.ones(3), 3000) + 0.4 * np.eye(3)[y]
    p /= p.sum(axis=1, keepdims=True)
    multi = bootstrap_metrics(y, p, task_metrics("multiclass"), resamples=200, task="multiclass")
    target = rng.normal(0, 1, 3000)
    reg = bootstrap_metrics(
        target,
        target + rng.normal(0, 0.3, 3000),
        task_metrics("regression"),
        resamples=200,
        task="regression",
    )
    for estimate in (*multi.values(), *reg.values()):
        assert estimate.low <= estimate.value <= estimate.high, estimate
    assert 0.6 < multi["accuracy"].low < multi["accuracy"].value < multi["accuracy"].high < 0.95
    assert 0.25 < reg["rmse"].low < 0.3 < reg["rmse"].high < 0.35


def test_paired_difference_does_not_depend_on_row_order():
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 800)
    a, b = y + rng.normal(0, 0.5, 800), y + rng.normal(0, 0.4, 800)
    first = paired_difference(y, a, b, ["rmse", "r2"], resamples=200, task="regression")
    order = rng.permutation(800)
    again = paired_difference(
        y[order], a[order], b[order], ["rmse", "r2"], resamples=200, task="regression"
    )
    assert first == again
    assert first["rmse"].high < 0 < first["r2"].low  # b is better on the same rows


@FAST
@given(data=_multiclass())
def test_class_counts_match_sklearns_per_class_report(data):
    from mlcheck.stats.multiclass import class_counts

    labels, probabilities, k = data
    predicted = np.argmax(probabilities, axis=1)
    ours = class_counts(labels, probabilities)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, predicted, labels=np.arange(k), zero_division=0
    )
    np.testing.assert_allclose(ours["precision"], precision)
    np.testing.assert_allclose(ours["recall"], recall)
    np.testing.assert_allclose(ours["f1"], f1)
    np.testing.assert_array_equal(ours["support"], support)
