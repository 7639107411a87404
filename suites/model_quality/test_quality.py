"""Model quality: each policy metric with a bootstrap interval, and the slice gates."""

import pytest

from mlcheck.gates.quality import metric_gates, slice_gates


@pytest.fixture(scope="session")
def quality_results(mlcheck_inputs):
    inputs = mlcheck_inputs
    return {g.metric: g for g in metric_gates(inputs.labels, inputs.scores, inputs.policy.quality)}


@pytest.fixture(scope="session")
def slice_results(mlcheck_inputs):
    inputs = mlcheck_inputs
    gates = slice_gates(inputs.current, inputs.labels, inputs.scores, inputs.policy.quality)
    return {g.name: g for g in gates}


@pytest.mark.mlcheck_gate("quality.{quality_metric}")
def test_metric(quality_metric, quality_results, record_gates):
    record_gates(quality_results[quality_metric])


@pytest.mark.mlcheck_gate("quality.slice.{slice_column}")
def test_slice(slice_column, slice_results, record_gates):
    record_gates(slice_results[f"quality.slice.{slice_column}"])
