"""Schema and data quality of the current data: every violation reported at once."""

import pytest

from mlcheck.gates.data_quality import DATA_QUALITY_CHECKS, data_quality_gates
from mlcheck.gates.schema import schema_gate


@pytest.mark.mlcheck_gate("schema.inputs")
def test_current_data_matches_schema(mlcheck_inputs, record_gates):
    record_gates(schema_gate(mlcheck_inputs.current, mlcheck_inputs.schema))


@pytest.fixture(scope="session")
def quality_checks(mlcheck_inputs):
    inputs = mlcheck_inputs
    gates = data_quality_gates(
        inputs.reference, inputs.current, inputs.policy.data_quality, columns=list(inputs.kinds)
    )
    return {g.name: g for g in gates}


@pytest.mark.parametrize("check", DATA_QUALITY_CHECKS)
@pytest.mark.mlcheck_gate("data_quality.{check}")
def test_data_quality(check, quality_checks, record_gates):
    record_gates(quality_checks[f"data_quality.{check}"])
