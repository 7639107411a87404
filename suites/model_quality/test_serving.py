"""The served model (a real uvicorn subprocess) scores rows exactly as the model file does, and
MLflow's own pyfunc (what `mlflow models serve` runs) scores JSON-shaped rows as mlcheck does."""

import pytest

from mlcheck.run.steps import mlflow_parity, serving_parity


@pytest.mark.mlcheck_gate("serving.parity")
def test_served_scores_match_model(mlcheck_served_model, mlcheck_serving, record_gates):
    record_gates(serving_parity(mlcheck_served_model.url, mlcheck_serving))


@pytest.mark.mlcheck_gate("serving.mlflow_parity")
def test_mlflow_serves_the_model_as_mlcheck_does(mlcheck_serving, record_gates):
    record_gates(mlflow_parity(mlcheck_serving))
