"""The served model (a real uvicorn subprocess) scores rows exactly as the model file does."""

import pytest

from mlcheck.gates.serving import serving_parity_gate


@pytest.mark.mlcheck_gate("serving.parity")
def test_served_scores_match_model(
    mlcheck_served_model, mlcheck_model, mlcheck_current, record_gate
):
    result = record_gate(
        serving_parity_gate(mlcheck_served_model.url, mlcheck_model, mlcheck_current)
    )
    assert result.passed, result.message
