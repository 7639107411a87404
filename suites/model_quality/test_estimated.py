"""Quality before the labels arrive: the classification metrics estimated from the model's
probabilities on the current data (confidence-based), WARN by default."""

import pytest

from mlcheck.engine.dask import DASK_SKIPS
from mlcheck.run.steps import estimated_quality


@pytest.mark.mlcheck_gate("quality.estimated")
def test_estimated_quality(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if inputs.policy.quality.estimated is None:
        pytest.skip("[quality.estimated] enabled = false")
    if inputs.engine == "dask":
        pytest.skip(DASK_SKIPS["estimated"])
    if inputs.task == "regression":
        pytest.skip("estimated from class probabilities: for classifiers only")
    if not inputs.has_reference:
        pytest.skip("no --reference: its labels are what says the model is calibrated")
    if inputs.target not in inputs.reference.columns:
        pytest.skip(f"the reference data has no {inputs.target!r} labels to check calibration")
    gates = estimated_quality(inputs)
    if not gates:
        pytest.skip("none of the policy's metrics can be estimated (accuracy, precision, ...)")
    record_gates(gates)
