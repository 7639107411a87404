"""Drift of the current data from the reference: per column, data set, predictions, labels.

Evidently's drift report (reports/drift.html) is written after the gates, as an artifact.
"""

import pytest

from mlcheck.gates.drift import (
    column_drift_gates,
    drift_gates,
    prediction_drift_gate,
    summary_drift_gate,
    target_drift_gate,
)


@pytest.mark.mlcheck_gate("drift.columns")
def test_column_and_dataset_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if inputs.engine == "dask":
        gates = column_drift_gates(inputs.summary.drift, inputs.kinds, inputs.policy.drift)
    else:
        gates = drift_gates(inputs.reference, inputs.current, inputs.kinds, inputs.policy.drift)
    record_gates(gates)


@pytest.mark.mlcheck_gate("drift.prediction")
def test_prediction_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.prediction:
        pytest.skip("[drift] prediction = false")
    if inputs.model_uri is None:
        pytest.skip("no --model: prediction drift needs a model's scores (the data gates decide)")
    if inputs.engine == "dask":
        summary = inputs.summary
        kind = summary.prediction_kind
        gate = summary_drift_gate("drift.prediction", summary.prediction, kind, inputs.policy.drift)
    else:
        gate = prediction_drift_gate(
            inputs.reference_scores, inputs.scores, inputs.policy.drift, inputs.task
        )
    record_gates(gate)


@pytest.mark.mlcheck_gate("drift.target")
def test_target_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.target:
        pytest.skip("[drift] target = false")
    if inputs.engine == "dask":
        target = inputs.summary.target
        if target is None:
            pytest.skip(f"no {inputs.target!r} column in both data sets")
        kind = "numeric" if inputs.label_task == "regression" else "categorical"
        gate = summary_drift_gate("drift.target", target, kind, inputs.policy.drift)
    else:
        gate = target_drift_gate(
            inputs.reference, inputs.current, inputs.target, inputs.policy.drift, inputs.label_task
        )
    record_gates(gate)
