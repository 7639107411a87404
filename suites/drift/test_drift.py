"""Drift of the current data from the reference: per column, data set, predictions, labels.

Evidently's drift report (reports/drift.html) is written after the gates, as an artifact.
"""

import pytest

from mlcheck.gates.drift import drift_gates, prediction_drift_gate, target_drift_gate


@pytest.mark.mlcheck_gate("drift.columns")
def test_column_and_dataset_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    record_gates(drift_gates(inputs.reference, inputs.current, inputs.kinds, inputs.policy.drift))


@pytest.mark.mlcheck_gate("drift.prediction")
def test_prediction_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.prediction:
        pytest.skip("[drift] prediction = false")
    if inputs.model_uri is None:
        pytest.skip("no --model: prediction drift needs a model's scores (the data gates decide)")
    record_gates(
        prediction_drift_gate(
            inputs.reference_scores, inputs.scores, inputs.policy.drift, inputs.task
        )
    )


@pytest.mark.mlcheck_gate("drift.target")
def test_target_drift(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.target:
        pytest.skip("[drift] target = false")
    record_gates(
        target_drift_gate(
            inputs.reference, inputs.current, inputs.target, inputs.policy.drift, inputs.label_task
        )
    )
