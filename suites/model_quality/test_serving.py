"""The served model (a real uvicorn subprocess) scores rows exactly as the model file does."""

import pytest

from mlcheck.run.steps import serving_parity


@pytest.mark.mlcheck_gate("serving.parity")
def test_served_scores_match_model(mlcheck_served_model, mlcheck_inputs, record_gates):
    record_gates(serving_parity(mlcheck_served_model.url, mlcheck_inputs))
