"""Model quality: each policy metric of the model's task with a bootstrap interval, the slice
gates, and for a regressor the baseline gate (better than predicting the reference mean)."""

import pytest

from mlcheck.run.model_steps import quality_metrics, regression_baseline, slices


@pytest.fixture(scope="session")
def quality_results(mlcheck_scores):
    return quality_metrics(mlcheck_scores)


@pytest.fixture(scope="session")
def slice_results(mlcheck_scores):
    return slices(mlcheck_scores)


@pytest.mark.mlcheck_gate("quality.{quality_metric}")
def test_metric(quality_metric, quality_results, record_gates):
    record_gates(quality_results[quality_metric])


@pytest.mark.mlcheck_gate("quality.slice.{slice_column}")
def test_slice(slice_column, slice_results, record_gates):
    record_gates(slice_results[f"quality.slice.{slice_column}"])


@pytest.mark.mlcheck_gate("quality.baseline")
def test_regressor_beats_the_reference_mean(mlcheck_scores, record_gates):
    record_gates(regression_baseline(mlcheck_scores))
