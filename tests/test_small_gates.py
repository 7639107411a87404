"""The smaller gates, each where it must pass and where it must block."""

import numpy as np
import pandas as pd
import pytest

from mlcheck.gates.load import request_count_gate
from mlcheck.gates.quality import metric_gates, slice_gates
from mlcheck.gates.serving import serving_parity_gate
from mlcheck.models.load import load_model
from mlcheck.policy import QualityPolicy, SlicePolicy
from mlcheck.probes.http import predict_http, records_from_frame
from mlcheck.results import Outcome
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel
from mlcheck.stats.metrics import prepare_rows


def _slices(broken: bool):
    rng = np.random.default_rng(0)
    n = 6000
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.15, n), 0, 1)
    group = np.where(np.arange(n) < n // 3, "a", np.where(np.arange(n) < 2 * n // 3, "b", "c"))
    if broken:  # the model knows nothing about group c
        scores[group == "c"] = rng.random((group == "c").sum())
    policy = QualityPolicy(slices=SlicePolicy(columns=("group",), min_size=100, max_gap=0.08))
    return slice_gates(pd.DataFrame({"group": group}), y, scores, policy)[0]


def test_slice_gate_passes_even_slices_and_blocks_a_bad_one():
    assert _slices(broken=False).outcome is Outcome.PASS
    gate = _slices(broken=True)
    assert gate.outcome is Outcome.FAIL and "group='c'" in gate.reason
    assert gate.value > 0.08


def test_request_count_gate():
    assert request_count_gate(120, 120).outcome is Outcome.PASS
    gate = request_count_gate(120, 117)
    assert gate.outcome is Outcome.FAIL and gate.value == 3
    assert gate.reason == "locust sent 120, /metrics counted 117"


def test_serving_parity_gate_passes_equal_scores_and_blocks_different_ones():
    local = np.array([0.1, 0.5, 0.9])
    assert serving_parity_gate(local.copy(), local).outcome is Outcome.PASS
    gate = serving_parity_gate(local + np.array([0, 0, 1e-3]), local)
    assert gate.outcome is Outcome.FAIL and gate.value == pytest.approx(1e-3)
    assert serving_parity_gate(local[:2], local).outcome is Outcome.ERROR


@pytest.mark.slow
def test_serving_parity_blocks_a_server_running_another_model(small_model_dir, small_bank):
    from mlcheck.models.demo import demo_model_path

    model = load_model(str(small_model_dir))
    sample = small_bank.head(50)
    local = model.predict(sample.drop(columns=["y"]))
    records = records_from_frame(sample, model.info.feature_names or ())
    with ServedModel(ServingConfig(str(small_model_dir))) as same:
        served = predict_http(same.url, records)
        assert serving_parity_gate(served, local).outcome is Outcome.PASS
    with ServedModel(ServingConfig(str(demo_model_path()))) as other:
        gate = serving_parity_gate(predict_http(other.url, records), local)
    assert gate.outcome is Outcome.FAIL and gate.value > 1e-6


def _slice_policy() -> QualityPolicy:
    return QualityPolicy(slices=SlicePolicy(columns=("group", "region"), min_size=100))


@pytest.mark.parametrize("n", [900, 60_000], ids=["bootstrap", "large-sample"])
def test_rows_prepared_once_for_a_run_give_the_same_gates(n):
    """A run prepares its rows once for the quality and slice gates: the same results as
    each gate preparing its own."""
    rng = np.random.default_rng(3)
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1)
    frame = pd.DataFrame({"group": rng.choice(["a", "b"], n), "region": rng.choice(["n", "s"], n)})
    policy = _slice_policy()
    rows = prepare_rows("binary", y, scores, policy.decision_threshold)
    assert metric_gates(y, scores, policy, rows=rows) == metric_gates(y, scores, policy)
    assert slice_gates(frame, y, scores, policy, rows=rows) == slice_gates(frame, y, scores, policy)


def test_slice_gates_cannot_decide_on_one_class_data():
    rng = np.random.default_rng(1)
    n = 900
    frame = pd.DataFrame(
        {"group": np.repeat(["a", "b", "c"], n // 3), "region": rng.choice(["n", "s"], n)}
    )
    gates = slice_gates(frame, np.zeros(n, dtype=int), rng.random(n), _slice_policy())
    assert [g.outcome for g in gates] == [Outcome.ERROR, Outcome.ERROR]
    for gate in gates:
        assert "undefined" in gate.reason and "both labels" in gate.reason
        assert gate.value is None


def test_a_one_class_slice_is_left_out_and_the_others_decide():
    rng = np.random.default_rng(2)
    n = 6000
    group = np.repeat(["a", "b", "c"], n // 3)
    y = (rng.random(n) < 0.3).astype(int)
    y[group == "c"] = 0  # roc_auc is undefined inside slice c
    scores = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.15, n), 0, 1)
    frame = pd.DataFrame({"group": group, "region": rng.choice(["n", "s"], n)})
    gate = slice_gates(frame, y, scores, _slice_policy())[0]
    assert gate.outcome is Outcome.PASS and gate.value is not None and gate.value < 0.08
    assert "'c'" in gate.reason and "undefined" in gate.reason
    assert gate.details["undefined"] == {"c": 2000}
    assert gate.details["slices"]["c"]["roc_auc"] is None
    assert "single class" in gate.details["slices"]["c"]["reason"]
    scores[group == "b"] = rng.random((group == "b").sum())  # the model knows nothing of b
    gate = slice_gates(frame, y, scores, _slice_policy())[0]
    assert gate.outcome is Outcome.FAIL and "group='b'" in gate.reason


def test_a_slice_gate_errors_when_no_large_slice_can_be_judged():
    rng = np.random.default_rng(3)
    n = 600
    group = np.repeat(["a", "b"], n // 2)
    y = (group == "a").astype(int)  # each slice holds one class; overall both
    frame = pd.DataFrame({"group": group, "region": rng.choice(["n", "s"], n)})
    gate = slice_gates(frame, y, rng.random(n), _slice_policy())[0]
    assert gate.outcome is Outcome.ERROR
    assert "no category of 'group'" in gate.reason and "single class" in gate.reason
