"""Model quality: each policy metric with a bootstrap interval, and the slice gates."""

import pytest

from mlcheck.gates.quality import metric_gates, slice_gates


@pytest.fixture(scope="session")
def quality_results(mlcheck_inputs):
    labels, scores = mlcheck_inputs.scores
    return {g.metric: g for g in metric_gates(labels, scores, mlcheck_inputs.policy.quality)}


@pytest.fixture(scope="session")
def slice_results(mlcheck_inputs):
    labels, scores = mlcheck_inputs.scores
    gates = slice_gates(mlcheck_inputs.current, labels, scores, mlcheck_inputs.policy.quality)
    return {g.name.removeprefix("quality.slice."): g for g in gates}


@pytest.mark.mlcheck_gate("quality.{quality_metric}")
def test_metric(quality_metric, quality_results, record_gate):
    result = record_gate(quality_results[quality_metric])
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("quality.slice.{slice_column}")
def test_slice(slice_column, slice_results, record_gate):
    result = record_gate(slice_results[slice_column])
    assert result.passed, result.message
