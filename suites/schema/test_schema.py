"""Schema and data quality of the current data: every violation reported at once."""

import pytest

from mlcheck.engine.dask import DASK_SKIPS
from mlcheck.gates.data_quality import DATA_QUALITY_CHECKS, data_quality_gates
from mlcheck.gates.schema import schema_gate, violations_gate


@pytest.mark.mlcheck_gate("schema.inputs")
def test_current_data_matches_schema(mlcheck_inputs, record_gates):
    inputs = mlcheck_inputs
    if inputs.engine == "dask":
        summary = inputs.summary
        gate = violations_gate(summary.schema_groups, summary.current_rows, inputs.schema)
    else:
        gate = schema_gate(inputs.current, inputs.current_schema)
    record_gates(gate)


@pytest.fixture(scope="session")
def quality_checks(mlcheck_inputs):
    inputs = mlcheck_inputs
    if inputs.engine == "dask":
        pytest.skip(DASK_SKIPS["data_quality"])
    gates = data_quality_gates(
        inputs.reference, inputs.current, inputs.policy.data_quality, columns=list(inputs.kinds)
    )
    return {g.name: g for g in gates}


@pytest.mark.parametrize("check", DATA_QUALITY_CHECKS)
@pytest.mark.mlcheck_gate("data_quality.{check}")
def test_data_quality(check, quality_checks, record_gates):
    record_gates(quality_checks[f"data_quality.{check}"])
