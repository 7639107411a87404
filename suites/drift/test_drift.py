"""Drift of the current data from the reference: per column, data set, predictions, labels."""

import pytest

from mlcheck.gates.drift import drift_gates, prediction_drift_gate, target_drift_gate
from mlcheck.reports.drift_html import write_drift_report
from mlcheck.results import GateResult, Outcome


@pytest.mark.mlcheck_gate("drift.columns")
def test_column_and_dataset_drift(mlcheck_inputs, record_gate):
    inputs = mlcheck_inputs
    results = drift_gates(inputs.reference, inputs.current, inputs.kinds, inputs.policy.drift)
    for result in results:
        record_gate(result)
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)


@pytest.mark.mlcheck_gate("drift.prediction")
def test_prediction_drift(mlcheck_inputs, record_gate):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.prediction:
        pytest.skip("[drift] prediction = false")
    _, current_scores = inputs.scores
    gate = prediction_drift_gate(inputs.reference_scores, current_scores, inputs.policy.drift)
    result = record_gate(gate)
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("drift.target")
def test_target_drift(mlcheck_inputs, record_gate):
    inputs = mlcheck_inputs
    if not inputs.policy.drift.target:
        pytest.skip("[drift] target = false")
    gate = target_drift_gate(inputs.reference, inputs.current, inputs.target, inputs.policy.drift)
    result = record_gate(gate)
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("drift.report")
def test_drift_report(mlcheck_inputs, record_gate):
    """Evidently's drift report in reports/drift.html (for people; the gates above decide)."""
    inputs = mlcheck_inputs
    rows = inputs.policy.drift.report_rows
    if rows == 0:
        pytest.skip("[drift] report_rows = 0")
    kinds = dict(inputs.kinds)
    if inputs.target in inputs.current.columns:
        kinds[inputs.target] = "categorical"
    path = f"{inputs.options.report_dir}/drift.html"
    write_drift_report(inputs.reference, inputs.current, kinds, path, max_rows=rows)
    sampled = float(min(rows, len(inputs.current)))
    record_gate(
        GateResult("drift.report", Outcome.PASS, "rows sampled", sampled, details={"path": path})
    )
