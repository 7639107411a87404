"""Small samples: no interval collapses to a point, and too few labelled rows cannot pass.

Eight correct rows used to bootstrap accuracy to [1, 1] and PASS `>= 0.85`.
"""

from __future__ import annotations

import tomllib
from functools import reduce

import numpy as np
import pytest

from mlcheck.errors import ConfigError
from mlcheck.gates.quality import baseline_gate, metric_gates, sketch_metric_gates
from mlcheck.policy import MetricThreshold, QualityPolicy, parse_policy
from mlcheck.results import Comparison, Outcome
from mlcheck.stats.metrics import COLLAPSED, bootstrap_metrics, metric_intervals
from mlcheck.stats.quality_sketch import QualitySketch


def _policy(*rules: tuple[str, Comparison, float], min_rows: int = 50) -> QualityPolicy:
    thresholds = tuple(MetricThreshold(*rule) for rule in rules)
    return QualityPolicy(thresholds=thresholds, min_rows=min_rows)


def _all_correct(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` rows, a third positive, each scored right with certainty to spare."""
    y = (np.arange(n) % 3 == 0).astype(int)
    return y, np.where(y == 1, 0.9, 0.1)


ACCURACY_85 = ("accuracy", Comparison.GE, 0.85)


def test_eight_correct_rows_cannot_pass():
    y, p = _all_correct(8)
    (gate,) = metric_gates(y, p, _policy(ACCURACY_85))
    assert gate.outcome is Outcome.ERROR
    assert gate.reason.startswith("8 labelled rows in the current data, fewer than [quality]")
    assert "min_rows = 50" in gate.reason and "lower [quality] min_rows" in gate.reason
    assert gate.details == {"rows": 8, "min_rows": 50}


def test_every_metric_gate_refuses_below_min_rows():
    y, p = _all_correct(31)
    gates = metric_gates(y, p, QualityPolicy())  # the binary defaults: five metrics
    assert len(gates) == 5 and all(g.outcome is Outcome.ERROR for g in gates)
    assert all("31 labelled rows" in g.reason for g in gates)


def test_thirty_one_correct_rows_get_an_exact_interval():
    y, p = _all_correct(31)
    (strict,) = metric_gates(y, p, _policy(("accuracy", Comparison.GE, 0.90), min_rows=20))
    (loose,) = metric_gates(y, p, _policy(ACCURACY_85, min_rows=20))
    for gate in (strict, loose):
        assert gate.value == 1.0 and gate.details["interval"] == "clopper-pearson"
        # 31 of 31: the exact 95% interval is [0.888, 1], not the bootstrap's [1, 1]
        assert gate.interval == (pytest.approx(0.025 ** (1 / 31)), 1.0)
    assert strict.outcome is Outcome.FAIL and "more rows would narrow it" in strict.reason
    # 0.888 >= 0.85: 31 of 31 right does show 85% at 95% confidence, honestly
    assert loose.outcome is Outcome.PASS


def test_a_few_errors_in_a_small_sample_widen_the_interval():
    y, p = _all_correct(31)
    p[:2] = 1 - p[:2]  # 29 of 31 right: 2 errors, fewer than FEW_OUTCOMES
    (gate,) = metric_gates(y, p, _policy(ACCURACY_85, min_rows=20))
    assert gate.details["interval"] == "clopper-pearson"
    assert gate.interval is not None and gate.interval[0] < 0.8
    assert gate.outcome is Outcome.FAIL


def test_recall_of_few_positives_and_a_perfect_auc_are_exact():
    y, p = _all_correct(60)  # 20 positives, 40 negatives, every one scored right
    recall, auc = metric_gates(
        y, p, _policy(("recall", Comparison.GE, 0.8), ("roc_auc", Comparison.GE, 0.85))
    )
    # recall: 20 of 20 positives; AUC 1: 20 disjoint positive-negative pairs, all ranked right
    for gate in (recall, auc):
        assert gate.value == 1.0 and gate.details["interval"] == "clopper-pearson"
        assert gate.interval == (pytest.approx(0.025 ** (1 / 20)), 1.0)  # 0.832
    assert (recall.outcome, auc.outcome) == (Outcome.PASS, Outcome.FAIL)


def test_a_collapsed_interval_of_another_metric_cannot_decide():
    y, p = _all_correct(60)  # every row's log loss is -log(0.9): all resamples alike
    estimate = metric_intervals(y, p, ["log_loss"], resamples=200)["log_loss"]
    assert estimate.method == COLLAPSED
    assert estimate.low == pytest.approx(estimate.high, rel=1e-12)
    (gate,) = metric_gates(y, p, _policy(("log_loss", Comparison.LE, 0.3)))
    assert gate.outcome is Outcome.ERROR
    assert "collapsed to the single value 0.1054 on these 60 labelled rows" in gate.reason


def _normal_sample(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random(n) < 0.3).astype(int)
    return y, np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, n), 0.001, 0.999)


def test_a_normal_sample_keeps_its_bootstrap_and_passes():
    y, p = _normal_sample(2_000)
    names = ["accuracy", "roc_auc", "recall", "precision", "log_loss", "calibration_error"]
    estimates = metric_intervals(y, p, names, resamples=200)
    assert estimates == bootstrap_metrics(y, p, names, resamples=200)  # untouched
    policy = _policy(("accuracy", Comparison.GE, 0.85), ("roc_auc", Comparison.GE, 0.9))
    assert all(g.outcome is Outcome.PASS for g in metric_gates(y, p, policy))


def _sketch(task: str, y: np.ndarray, p: np.ndarray) -> QualitySketch:
    parts = np.array_split(np.arange(len(y)), 3)
    return reduce(QualitySketch.merge, [QualitySketch.of(task, y[i], p[i]) for i in parts])


def test_merged_summaries_respect_min_rows():
    y, p = _all_correct(30)
    (gate,) = sketch_metric_gates(_sketch("binary", y, p), _policy(ACCURACY_85))
    assert gate.outcome is Outcome.ERROR and gate.reason.startswith("30 labelled rows")
    target = np.linspace(1.0, 2.0, 12)
    rule = ("mae", Comparison.LE, 1.0)
    (gate,) = sketch_metric_gates(_sketch("regression", target, target + 0.1), _policy(rule))
    assert gate.outcome is Outcome.ERROR and "fewer than [quality] min_rows = 50" in gate.reason


def test_the_regression_baseline_gate_respects_min_rows():
    target = np.linspace(1.0, 2.0, 12)
    gate = baseline_gate(target, target + 0.01, 1.5, QualityPolicy())
    assert gate.outcome is Outcome.ERROR and gate.reason.startswith("12 labelled rows")


def test_min_rows_is_read_and_validated():
    policy = parse_policy(tomllib.loads("[quality]\nmin_rows = 200"), source="gates.toml")
    assert policy.quality.min_rows == 200 and QualityPolicy().min_rows == 50
    for value, problem in [("0", "is out of range"), ("2.5", "must be an integer")]:
        with pytest.raises(ConfigError, match=rf"gates.toml: quality.min_rows={value} {problem}"):
            parse_policy(tomllib.loads(f"[quality]\nmin_rows = {value}"), source="gates.toml")
