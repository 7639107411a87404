"""Schema and data quality of the current data: every violation reported at once."""

import pytest

from mlcheck.gates.data_quality import data_quality_gates
from mlcheck.gates.schema import schema_gate


@pytest.mark.mlcheck_gate("schema.inputs")
def test_current_data_matches_schema(mlcheck_inputs, record_gate):
    result = record_gate(schema_gate(mlcheck_inputs.current, mlcheck_inputs.schema))
    assert result.passed, result.message


@pytest.fixture(scope="session")
def quality_checks(mlcheck_inputs):
    gates = data_quality_gates(
        mlcheck_inputs.reference,
        mlcheck_inputs.current,
        mlcheck_inputs.policy.data_quality,
        columns=list(mlcheck_inputs.kinds),
    )
    return {g.name.removeprefix("data_quality."): g for g in gates}


@pytest.mark.parametrize(
    "check", ["missing", "outliers", "duplicates", "constant", "new_categories"]
)
@pytest.mark.mlcheck_gate("data_quality.{check}")
def test_data_quality(check, quality_checks, record_gate):
    result = record_gate(quality_checks[check])
    assert result.passed, result.message
