"""Challenger vs champion on the same rows: a paired bootstrap against a non-inferiority margin."""

import pytest

from mlcheck.engine.dask import DASK_SKIPS
from mlcheck.gates.compare import compare_gates, no_champion_gate


@pytest.mark.mlcheck_gate("compare")
def test_challenger_is_not_worse_than_champion(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if inputs.champion is None:
        record_gates(no_champion_gate())
        return
    if inputs.missing_labels:
        pytest.skip(inputs.missing_labels)
    if inputs.engine == "dask":
        pytest.skip(DASK_SKIPS["compare"])
    record_gates(
        compare_gates(
            inputs.labels,
            inputs.champion_scores,
            inputs.scores,
            inputs.policy.compare,
            inputs.policy.quality.decision_threshold,
            inputs.champion.info.uri,
            inputs.task,
        )
    )
