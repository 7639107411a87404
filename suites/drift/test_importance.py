"""Explanations that moved: each feature's permutation importance on the reference and the
current data (a seeded sample of each, with either engine); the top features must keep their
order and their shares."""

import pytest

from mlcheck.run.steps import importance_stability


@pytest.mark.mlcheck_gate("drift.importance")
def test_feature_importance_is_stable(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if not inputs.policy.importance.enabled:
        pytest.skip("[importance] enabled = false")
    if inputs.model_uri is None:
        pytest.skip("no --model: importance needs a model (the data gates decide)")
    if inputs.missing_labels:
        pytest.skip(inputs.missing_labels)
    if inputs.target not in inputs.head("reference", 1).columns:
        pytest.skip(f"the reference data has no {inputs.target!r} labels to score importance on")
    record_gates(importance_stability(inputs))
