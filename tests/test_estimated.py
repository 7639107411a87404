"""Quality before the labels arrive: metrics estimated from a calibrated model's probabilities
come close to what the labels then show under covariate and prior shift, and miss concept
drift entirely (the probabilities do not change when the labels' meaning does)."""

from __future__ import annotations

import numpy as np
import pytest

from mlcheck.data.bank import generate
from mlcheck.data.scenarios import apply_scenario
from mlcheck.gates.estimated import estimated_gates
from mlcheck.models.load import load_model
from mlcheck.policy import EstimatedPolicy, MetricThreshold, QualityPolicy
from mlcheck.results import Comparison, Outcome
from mlcheck.stats.estimated import estimated_metrics
from mlcheck.stats.metrics import metric_values

NAMES = ["accuracy", "precision", "recall", "f1", "roc_auc"]


def _calibrated(n: int, seed: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    p = 1 / (1 + np.exp(-(2 * x - 1)))
    return p, (rng.random(n) < p).astype(int)


@pytest.mark.parametrize("seed", range(5))
def test_a_calibrated_models_estimates_cover_what_the_labels_show(seed):
    p, y = _calibrated(20_000, seed, shift=0.3 * seed)  # covariate shift: still calibrated
    estimates = estimated_metrics(p, NAMES, seed=seed)
    realized = metric_values(y, p, NAMES)
    for name in NAMES:
        estimate, value = estimates[name], float(realized[name][0])
        width = estimate.high - estimate.low
        assert estimate.low - 0.25 * width <= value <= estimate.high + 0.25 * width, name
        assert abs(estimate.value - value) < 0.02, name


def test_a_multiclass_models_accuracy_is_its_mean_top_probability():
    rng = np.random.default_rng(1)
    p = rng.dirichlet([2, 1, 1], 30_000)
    y = (rng.random(len(p))[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    estimate = estimated_metrics(p, ["accuracy"], task="multiclass")["accuracy"]
    assert estimate.value == pytest.approx(p.max(axis=1).mean())
    assert estimate.low <= np.mean(np.argmax(p, axis=1) == y) <= estimate.high


def _policy(accuracy: float, **estimated) -> QualityPolicy:
    rule = MetricThreshold("accuracy", Comparison.GE, accuracy)
    return QualityPolicy(thresholds=(rule,), estimated=EstimatedPolicy(**estimated))


def test_the_gate_warns_by_default_and_fails_when_told():
    p, _ = _calibrated(10_000, 0)
    assert estimated_gates(p, 0.01, _policy(0.5), "binary")[0].outcome is Outcome.PASS
    low = estimated_gates(p, 0.01, _policy(0.99), "binary")[0]
    assert low.outcome is Outcome.WARN and low.name == "quality.estimated.accuracy"
    assert estimated_gates(p, 0.01, _policy(0.99, outcome="fail"), "binary")[0].outcome is (
        Outcome.FAIL
    )


def test_an_uncalibrated_model_gets_no_estimate():
    p, _ = _calibrated(10_000, 0)
    gate = estimated_gates(p, 0.2, _policy(0.5), "binary")[0]
    assert gate.outcome is Outcome.WARN and "not calibrated" in gate.reason
    assert gate.value is None
    blocking = estimated_gates(p, 0.2, _policy(0.5, outcome="fail"), "binary")[0]
    assert blocking.outcome is Outcome.ERROR


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "accuracy_gap", "auc_gap"),
    [
        ("none", (0, 0.02), (0, 0.02)),
        ("covariate_shift", (0, 0.035), (0, 0.03)),  # P(y|x) kept: the estimate holds
        # the class balance moved, so P(y|x) did: accuracy is off, AUC (balance-free) holds
        ("prior_shift", (0.05, 1), (0, 0.02)),
        ("concept_drift", (0.04, 1), (0.01, 1)),  # the labels moved, the probabilities did not
    ],
)
def test_estimates_on_the_drift_scenarios(small_model_dir, scenario, accuracy_gap, auc_gap):
    """The demo model's estimates against the metric once labels are joined."""
    model = load_model(str(small_model_dir))
    current = apply_scenario(generate(20_000, seed=7), scenario, 1.0, seed=1)
    scores = model.predict(current.drop(columns=["y"]))
    names = ["accuracy", "roc_auc"]
    estimates = estimated_metrics(scores, names)
    realized = metric_values(current["y"].to_numpy(), scores, names)
    gaps = {name: abs(estimates[name].value - float(realized[name][0])) for name in names}
    print(f"{scenario}: estimate vs realized", {
        name: (round(estimates[name].value, 4), round(float(realized[name][0]), 4))
        for name in names
    })  # fmt: skip
    assert accuracy_gap[0] <= gaps["accuracy"] < accuracy_gap[1], gaps
    assert auc_gap[0] <= gaps["roc_auc"] < auc_gap[1], gaps
