"""The serving core in process (Starlette's test client): endpoints, validation, metrics."""

import pandas as pd
import pytest
from starlette.testclient import TestClient

from mlcheck.models.load import load_model
from mlcheck.serving.app import create_app
from mlcheck.serving.config import ServingConfig
from tests.conftest import ROOT
from tests.test_codec import RECORD


@pytest.fixture(scope="module")
def client(small_model_dir):
    config = ServingConfig(str(small_model_dir), max_rows=5, max_body_bytes=4096)
    app = create_app(load_model(config.model), config)
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
    json_body = {"content-type": "application/json"}
    assert client.post("/predict", content=b"x" * 5000, headers=json_body).status_code == 413
    assert client.post("/predict", content=b"{", headers=json_body).status_code == 400
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
    app = create_app(load_model(str(small_model_dir)), ServingConfig(str(small_model_dir), schema))
    with TestClient(app) as client:
        too_old = client.post("/predict", json=dict(RECORD, age=150))
        assert too_old.status_code == 422
        assert too_old.json()["detail"] == [
            {"row": 0, "field": "age", "error": "must be <= 100, got 150"}
        ]
        assert client.post("/predict", json=dict(RECORD, age=None)).status_code == 200
        assert client.get("/model/info").json()["schema"] == schema


def test_the_decision_threshold_changes_what_is_predicted(small_model_dir, small_bank):
    """The policy's threshold reaches the served model: at 0.9 fewer rows are class 1."""
    from mlcheck.probes.http import records_from_frame

    model = load_model(str(small_model_dir))
    rows = records_from_frame(small_bank.head(500), model.info.feature_names or ())
    positives = {}
    for threshold in (0.1, 0.9):
        app = create_app(model, ServingConfig(str(small_model_dir), decision_threshold=threshold))
        with TestClient(app) as client:
            answer = client.post("/predict", json={"instances": rows}).json()
        positives[threshold] = sum(p["class"] for p in answer["predictions"])
        assert client.get("/model/info").json()["decision_threshold"] == threshold
    assert positives[0.9] < positives[0.1]


def test_serving_config_survives_argv_and_the_environment(small_model_dir):
    from mlcheck.cli import build_parser

    schema = str(ROOT / "checks" / "schema.py")
    config = ServingConfig(str(small_model_dir), schema, "y", 0.9, 7, 2048, 2)
    args = build_parser().parse_args(["serve", *config.to_args()])
    assert (args.model, args.decision_threshold, args.max_rows) == (config.model, 0.9, 7)
    assert (args.max_body_bytes, args.workers, args.schema) == (2048, 2, config.schema)
    assert args.target == "y" and args.body_timeout_s == config.body_timeout_s
    assert ServingConfig.from_env(config.to_env()) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decision_threshold": 1.5}, r"--decision-threshold=1.5 is out of range"),
        ({"max_rows": 0}, r"--max-rows=0 is out of range; allowed: \[1, 1000000\]"),
        ({"schema": "nope.py"}, r"--schema='nope.py' does not exist"),
    ],
)
def test_serving_config_names_the_bad_option(small_model_dir, changes, message):
    from mlcheck.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        ServingConfig(str(small_model_dir), **changes)


def test_the_run_serves_with_the_policy_threshold_and_schema(tmp_path, small_model_dir):
    from mlcheck.run.options import RunOptions
    from mlcheck.run.parts import Run

    policy = tmp_path / "gates.toml"
    schema = ROOT / "checks" / "schema.py"
    policy.write_text(f'[quality]\ndecision_threshold = 0.9\n[schema]\nfile = "{schema}"\n')
    run = Run(RunOptions(model=str(small_model_dir), policy=str(policy)))
    config = run.serving.serving_config()
    assert config.decision_threshold == 0.9 and config.schema == str(schema)
    assert config.model == run.model.model.info.path  # the loaded model, not fetched again


def test_a_model_without_a_signature_is_served_with_the_schema(tmp_path, other_data):
    """Requests are validated with the schema (the label left out); with no schema either,
    the server refuses to start and names both fixes."""
    import mlflow.sklearn

    from mlcheck.errors import ConfigError
    from mlcheck.schema import infer_schema, save_schema
    from tests.conftest import save_sklearn_model

    train, _ = other_data
    folder = save_sklearn_model(train, train["label"], tmp_path / "model", signature=False)
    model = load_model(str(folder))
    assert model.info.features is None
    with pytest.raises(ConfigError, match=r"no input signature.*signature=.*--schema PATH"):
        create_app(model, ServingConfig(str(folder)))
    schema = str(save_schema(infer_schema(train, "label"), tmp_path / "schema.yaml"))
    app = create_app(model, ServingConfig(str(folder), schema, target="label"))
    with TestClient(app) as client:
        info = client.get("/model/info").json()
        assert [f["name"] for f in info["features"]] == ["x1", "x2", "colour"]
        assert info["validated_by"] == "schema (no signature)"
        row = {"x1": 0.5, "x2": -1.0, "colour": "red"}
        answer = client.post("/predict", json=row)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["probability"] == pytest.approx(
            mlflow.sklearn.load_model(str(folder)).predict_proba(pd.DataFrame([row]))[0, 1]
        )
        bad = client.post("/predict", json=dict(row, colour="purple", label=1))
        assert bad.status_code == 422
        assert {p["field"] for p in bad.json()["detail"]} == {"colour", "label"}


def test_an_unknown_category_is_refused_with_a_schema_and_its_absence_is_said(
    tmp_path, sklearn_model_dir, other_data, caplog
):
    """A user's model names no categories: without --schema the server warns at startup that
    its text input accepts any value (and `purple` reaches the model); with the schema `init`
    writes, `purple` gets 422."""
    import logging

    from mlcheck.schema import infer_schema, save_schema

    model = load_model(str(sklearn_model_dir))
    row = {"x1": 0.5, "x2": -1.0, "colour": "purple"}
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        app = create_app(model, ServingConfig(str(sklearn_model_dir)))
    assert "colour accept any value" in caplog.text and "--schema" in caplog.text
    with TestClient(app, raise_server_exceptions=False) as client:
        # the request reaches the model, whose encoder raises on an unseen category
        assert client.post("/predict", json=row).status_code == 500
    schema = str(save_schema(infer_schema(other_data[0], "label"), tmp_path / "schema.yaml"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        app = create_app(model, ServingConfig(str(sklearn_model_dir), schema, target="label"))
    assert "accept any value" not in caplog.text
    with TestClient(app) as client:
        answer = client.post("/predict", json=row)
        assert answer.status_code == 422 and "colour" in answer.text


def test_the_gates_send_only_the_rows_serving_accepts(tmp_path, small_model_dir, small_bank):
    """An unknown category is the schema gate's to report: parity, latency and load send the
    other rows (one fault, one verdict). A missing value is accepted (an inferred schema allows
    nulls; the missing-rate gate judges how many)."""
    from mlcheck.run.options import RunOptions
    from mlcheck.run.parts import Run

    current = small_bank.head(5).astype({"job": str}).reset_index(drop=True)
    current.loc[1, "job"] = "astronaut"
    current.loc[3, "age"] = None
    path = tmp_path / "current.parquet"
    current.to_parquet(path)
    reference = tmp_path / "reference.parquet"
    small_bank.to_parquet(reference)
    options = RunOptions(model=str(small_model_dir), current=str(path), reference=str(reference))
    keep, records = Run(options).serving.served_records(5)
    assert keep == [0, 2, 3, 4] and [r["job"] for r in records] == list(current["job"][keep])
    assert records[2]["age"] is None
