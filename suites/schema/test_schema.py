"""Schema and data quality of the current data: every violation reported at once."""

import pytest

from mlcheck.gates.data_quality import DATA_QUALITY_CHECKS
from mlcheck.run.data_steps import data_quality, schema_inputs


@pytest.mark.mlcheck_gate("schema.inputs")
def test_current_data_matches_schema(mlcheck_scores, record_gates):
    record_gates(schema_inputs(mlcheck_scores))


@pytest.fixture(scope="session")
def quality_checks(mlcheck_data):
    return data_quality(mlcheck_data)


@pytest.mark.parametrize("check", DATA_QUALITY_CHECKS)
@pytest.mark.mlcheck_gate("data_quality.{check}")
def test_data_quality(check, quality_checks, record_gates):
    record_gates(quality_checks[f"data_quality.{check}"])
