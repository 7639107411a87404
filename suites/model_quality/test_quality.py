"""Model quality: each policy metric of the model's task with a bootstrap interval, the slice
gates, and for a regressor the baseline gate (better than predicting the reference mean)."""

import pytest

from mlcheck.engine.dask import DASK_SKIPS
from mlcheck.gates.quality import baseline_gate, metric_gates, sketch_metric_gates, slice_gates
from mlcheck.results import GateResult, Outcome


@pytest.fixture(scope="session")
def quality_results(mlcheck_inputs):
    inputs = mlcheck_inputs
    if inputs.missing_labels:
        pytest.skip(inputs.missing_labels)
    summary = inputs.summary if inputs.engine == "dask" else None
    if summary is not None and summary.quality is None:
        pytest.skip(f"the current partitions have no {inputs.target!r} labels")
    if summary is not None and summary.scores is None:  # too many rows to gather: merged
        gates = sketch_metric_gates(summary.quality, inputs.policy.quality, inputs.model.classes)
    else:
        gates = metric_gates(
            inputs.labels, inputs.scores, inputs.policy.quality, inputs.task, inputs.model.classes
        )
    return {g.metric: g for g in gates}


@pytest.fixture(scope="session")
def slice_results(mlcheck_inputs):
    inputs = mlcheck_inputs
    if inputs.missing_labels:
        pytest.skip(inputs.missing_labels)
    if inputs.engine == "dask":
        pytest.skip(DASK_SKIPS["slices"])
    gates = slice_gates(
        inputs.current, inputs.labels, inputs.scores, inputs.policy.quality, inputs.task
    )
    return {g.name: g for g in gates}


@pytest.mark.mlcheck_gate("quality.{quality_metric}")
def test_metric(quality_metric, quality_results, record_gates):
    record_gates(quality_results[quality_metric])


@pytest.mark.mlcheck_gate("quality.slice.{slice_column}")
def test_slice(slice_column, slice_results, record_gates):
    record_gates(slice_results[f"quality.slice.{slice_column}"])


@pytest.mark.mlcheck_gate("quality.baseline")
def test_regressor_beats_the_reference_mean(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if inputs.task != "regression" or not inputs.policy.quality.baseline:
        why = (
            "[quality] baseline = false"
            if inputs.policy.quality.baseline is False
            else (f"the baseline gate is for regressors; this model is {inputs.task}")
        )
        record_gates(GateResult("quality.baseline", Outcome.SKIP, "rmse difference", reason=why))
        return
    if inputs.missing_labels:
        pytest.skip(inputs.missing_labels)
    if inputs.engine == "dask":
        pytest.skip(DASK_SKIPS["baseline"])
    record_gates(
        baseline_gate(inputs.labels, inputs.scores, inputs.reference_mean, inputs.policy.quality)
    )
