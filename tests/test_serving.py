"""The serving core in process (Starlette's test client): endpoints, validation, metrics."""

import pytest
from starlette.testclient import TestClient

from mlcheck.models import load_model
from mlcheck.serving.app import ServingConfig, create_app
from tests.conftest import ROOT
from tests.test_codec import RECORD


@pytest.fixture(scope="module")
def client(small_model_dir):
    app = create_app(
        load_model(str(small_model_dir)), ServingConfig(max_rows=5, max_body_bytes=4096)
    )
    with TestClient(app) as client:
        yield client


def test_health_ready_and_info(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    info = client.get("/model/info").json()
    assert info["flavor"] == "xgboost" and info["features"][1]["name"] == "job"
    assert info["max_rows"] == 5 and info["load_seconds"] > 0


def test_predict_one_and_many(client):
    one = client.post("/predict", json=RECORD).json()["predictions"]
    many = client.post("/predict", json={"instances": [RECORD] * 3}).json()["predictions"]
    assert len(one) == 1 and len(many) == 3
    assert many[0] == one[0] and 0 <= one[0]["probability"] <= 1 and one[0]["class"] in (0, 1)


def test_bad_requests_get_4xx_with_the_field(client):
    response = client.post("/predict", json=dict(RECORD, job="astronaut"))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "job"
    assert client.post("/predict", json={"instances": [RECORD] * 6}).status_code == 413
    assert client.post("/predict", content=b"x" * 5000).status_code == 413
    assert client.post("/predict", content=b"{").status_code == 400
    assert client.get("/predict").status_code == 405


def test_metrics_count_requests_predictions_and_errors(client):
    client.post("/predict", json={"instances": [RECORD] * 2})
    client.post("/predict", json=dict(RECORD, age="x"))
    text = client.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['http_requests_total{endpoint="/predict",method="POST",status="200"}'] >= 1
    assert samples['http_requests_total{endpoint="/predict",method="POST",status="422"}'] >= 1
    assert samples["ml_predictions_total"] >= 2
    assert samples['ml_prediction_errors_total{reason="invalid"}'] >= 1
    assert 'ml_model_info{flavor="xgboost"' in text
    assert 'http_request_duration_seconds_bucket{endpoint="/predict"' in text
    assert "_created" not in text


def test_requests_are_held_to_the_schema_file(small_model_dir):
    schema = str(ROOT / "checks" / "schema.py")
    app = create_app(load_model(str(small_model_dir)), ServingConfig(schema=schema))
    with TestClient(app) as client:
        too_old = client.post("/predict", json=dict(RECORD, age=150))
        assert too_old.status_code == 422
        assert too_old.json()["detail"] == [
            {"row": 0, "field": "age", "error": "must be <= 100, got 150"}
        ]
        assert client.post("/predict", json=dict(RECORD, age=None)).status_code == 200
        assert client.get("/model/info").json()["schema"] == schema
