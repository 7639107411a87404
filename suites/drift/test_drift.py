"""Drift of the current data from the reference: per column, data set, predictions, labels,
decided as one family (one false-discovery control, effect floors; see `drift_family`).

Evidently's drift report (reports/drift.html) is written after the gates, as an artifact.
"""

import pytest

from mlcheck.run.data_steps import drift_family, prediction_drift, target_drift


@pytest.fixture(scope="session")
def drift_results(mlcheck_scores):
    return drift_family(mlcheck_scores)


@pytest.mark.mlcheck_gate("drift.columns")
def test_column_and_dataset_drift(mlcheck_data, drift_results, record_gates):
    names = [f"drift.{c}" for c in mlcheck_data.kinds] + ["drift.dataset"]
    record_gates([drift_results[n] for n in names])


@pytest.mark.mlcheck_gate("drift.prediction")
def test_prediction_drift(mlcheck_run, drift_results, record_gates):
    record_gates(prediction_drift(mlcheck_run.spec, drift_results))


@pytest.mark.mlcheck_gate("drift.target")
def test_target_drift(mlcheck_run, drift_results, record_gates):
    record_gates(target_drift(mlcheck_run.spec, drift_results))
