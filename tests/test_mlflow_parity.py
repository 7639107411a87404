"""MLflow's own serving (pyfunc on JSON-shaped rows) scores trained models as mlcheck does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.data.io import write_table
from mlcheck.errors import DataError
from mlcheck.features import features_to_json
from mlcheck.gates.serving import PARITY_TOLERANCE, mlflow_labels_gate, mlflow_parity_gate
from mlcheck.models.load import XGBoostPredictor, load_model
from mlcheck.models.training import METADATA_KEY, MODEL_FORMAT, PYFUNC_LOADER, mlflow_signature
from mlcheck.probes.http import records_from_frame
from mlcheck.probes.pyfunc import mlflow_models_serve, mlflow_pyfunc_scores, pyfunc_serves_labels
from mlcheck.results import Outcome
from mlcheck.run.options import RunOptions
from mlcheck.run.parts import Run
from mlcheck.run.serving import Serving
from mlcheck.run.steps import mlflow_parity
from mlcheck.serving.process import free_port

NAMES = [f.name for f in BANK_FEATURES]


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: strings for categories, plain numbers."""
    return records_from_frame(frame, NAMES)


# --- the gate (pure) -------------------------------------------------------------------------


def test_gate_passes_equal_scores_and_fails_different_ones():
    local = np.array([0.1, 0.5, 0.9])
    gate = mlflow_parity_gate(local.copy(), local)
    assert gate.outcome is Outcome.PASS and gate.name == "serving.mlflow_parity"
    assert gate.metric == "max_abs_diff" and gate.threshold == PARITY_TOLERANCE == 1e-6
    failed = mlflow_parity_gate(local + np.array([0, 0, 1e-3]), local)
    assert failed.outcome is Outcome.FAIL and failed.value == pytest.approx(1e-3)
    assert "differently" in failed.reason
    assert mlflow_parity_gate(local[:2], local).outcome is Outcome.FAIL
    assert mlflow_parity_gate(np.array([0.1, np.nan, 0.9]), local).outcome is Outcome.FAIL


def test_a_difference_only_on_rows_with_a_missing_category_is_explained():
    local = np.array([0.1, 0.5, 0.9])
    records = [{"region": "north", "x": 1.0}, {"region": None, "x": None}, {"region": "west"}]
    gate = mlflow_parity_gate(local + np.array([0, 0.04, 0]), local, records=records)
    assert gate.outcome is Outcome.FAIL
    assert gate.details["missing_text_columns"] == ["region"]  # a numeric null is not named
    assert "'region' is missing" in gate.reason and "X.where(X.notna(), np.nan)" in gate.reason
    # a row without a missing category differs too: the nulls do not explain it
    plain = mlflow_parity_gate(local + np.array([0, 0.04, 0.01]), local, records=records)
    assert plain.outcome is Outcome.FAIL and "missing_text_columns" not in plain.details
    assert "X.where" not in plain.reason


def test_gate_fails_with_the_error_when_mlflow_could_not_score():
    error = "model='m': MLflow's pyfunc could not score JSON-shaped rows: ValueError: boom"
    gate = mlflow_parity_gate(None, np.array([0.1, 0.2]), error)
    assert gate.outcome is Outcome.FAIL  # blocks: the deploy target could not serve the model
    assert gate.reason.startswith(error) and "mlcheck train" in gate.reason
    assert "ValueError: boom" in gate.message


def test_labels_gate_skips_with_the_fix():
    gate = mlflow_labels_gate(200)
    assert gate.outcome is Outcome.SKIP and "pyfunc_predict_fn='predict_proba'" in gate.reason


# --- models saved by train_xgboost ---------------------------------------------------------


def old_format_model(new_dir: Path, out: Path) -> Path:
    """The same booster saved as `train_xgboost` did before format 2: XGBoost's own pyfunc."""
    import mlflow.xgboost

    booster = load_model(str(new_dir))._booster  # type: ignore[attr-defined]
    mlflow.xgboost.save_model(
        booster,
        str(out),
        signature=mlflow_signature(BANK_FEATURES),
        model_format="ubj",
        metadata={METADATA_KEY: {"features": features_to_json(BANK_FEATURES), "target": "y"}},
        pip_requirements=["xgboost"],
    )
    return out


def served(model: Path, current: Path, **options: str) -> Serving:
    """The serving part of a run of `model` on `current`."""
    return Run(RunOptions(model=str(model), current=str(current), **options)).serving


@pytest.mark.slow
def test_trained_model_keeps_the_xgboost_fast_path_and_adds_mlcheck_pyfunc(small_model_dir):
    from mlflow.models import Model

    saved = Model.load(str(small_model_dir))
    assert saved.flavors["python_function"]["loader_module"] == PYFUNC_LOADER
    assert saved.flavors["xgboost"]["data"] == "model.ubj"
    assert saved.metadata[METADATA_KEY]["format"] == MODEL_FORMAT
    requirements = (small_model_dir / "requirements.txt").read_text().split()
    assert any(r.startswith("mlcheck") for r in requirements)
    model = load_model(str(small_model_dir))
    assert model.info.flavor == "xgboost" and isinstance(model, XGBoostPredictor)


@pytest.mark.slow
def test_mlflow_pyfunc_scores_json_rows_as_mlcheck_does(small_model_dir):
    import mlflow.pyfunc

    frame = generate(300, seed=5)[NAMES]
    records = json_records(frame)
    records[0] = {**records[0], "job": "astronaut"}  # unknown category: NaN on both paths
    records[1] = {**records[1], "education": None}  # missing category: NaN on both paths
    assert isinstance(records[2]["job"], str) and isinstance(records[2]["age"], int)
    served = np.asarray(
        mlflow.pyfunc.load_model(str(small_model_dir)).predict(pd.DataFrame(records)),
        dtype=np.float64,
    ).reshape(-1)
    local = load_model(str(small_model_dir)).predict(pd.DataFrame(records))
    np.testing.assert_allclose(served, local, rtol=0, atol=1e-6)
    assert not pyfunc_serves_labels(str(small_model_dir))
    probed = mlflow_pyfunc_scores(str(small_model_dir), records)
    assert probed.dtype == np.float64 and mlflow_parity_gate(probed, local).passed


@pytest.mark.slow
def test_step_passes_a_trained_model_and_fails_one_mlflow_cannot_serve(small_model_dir, tmp_path):
    current = write_table(generate(400, seed=6), tmp_path / "current.parquet")
    gate = mlflow_parity(served(small_model_dir, current))
    assert gate.outcome is Outcome.PASS, gate.message
    assert gate.value is not None and gate.value <= 1e-6 and gate.details["rows"] == 200

    old = old_format_model(small_model_dir, tmp_path / "old")
    serving = served(old, current)
    assert serving.scores.model.info.flavor == "xgboost"  # mlcheck's fast path scores it fine...
    with pytest.raises(DataError, match="MLflow's pyfunc could not score JSON-shaped rows"):
        mlflow_pyfunc_scores(str(old), serving.data.records(5))
    gate = mlflow_parity(serving)  # ...but MLflow's serving cannot: blocked, the error named
    assert gate.outcome is Outcome.FAIL, gate.message
    assert f"model={str(old)!r}: MLflow's pyfunc could not score JSON-shaped rows: " in gate.reason
    assert "Error: " in gate.reason and "job" in gate.reason


def test_pandas_category_booster_saved_by_mlflow_alone_is_blocked(tmp_path):
    import mlflow.xgboost
    import xgboost as xgb

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "colour": pd.Categorical(rng.choice(["red", "blue"], 200))}
    )
    labels = (frame["x"] > 0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1},
        xgb.DMatrix(frame, label=labels, enable_categorical=True),
        num_boost_round=3,
    )
    out = tmp_path / "cat"
    mlflow.xgboost.save_model(booster, str(out), pip_requirements=["xgboost"])
    records = [{"x": 0.1, "colour": "red"}, {"x": -1.0, "colour": "blue"}]
    with pytest.raises(DataError) as caught:
        mlflow_pyfunc_scores(str(out), records)
    gate = mlflow_parity_gate(None, np.array([0.6, 0.4]), str(caught.value))
    assert gate.outcome is Outcome.FAIL
    assert gate.reason.startswith(f"model={str(out)!r}: MLflow's pyfunc could not score")
    assert "colour" in gate.reason


def test_step_skips_a_sklearn_model_whose_pyfunc_serves_labels(
    sklearn_model_dir, other_data, tmp_path
):
    _, current = other_data
    path = write_table(current, tmp_path / "current.csv")
    assert pyfunc_serves_labels(str(sklearn_model_dir))
    gate = mlflow_parity(served(sklearn_model_dir, path, target="label"))
    assert gate.outcome is Outcome.SKIP, gate.message


# --- the real `mlflow models serve` --------------------------------------------------------


def _post(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _wait_for_ping(base: str, server: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("mlflow models serve did not answer /ping within 60 s")


@pytest.mark.slow
def test_mlflow_models_serve_scores_json_records(small_model_dir, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = mlflow_models_serve(str(small_model_dir), port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(base, server, time.monotonic() + 60)
        frame = generate(50, seed=7)[NAMES]
        records = json_records(frame)
        status, body = _post(f"{base}/invocations", {"dataframe_records": records})
        assert status == 200, body
        served = np.asarray(body["predictions"], dtype=np.float64).reshape(-1)
        local = load_model(str(small_model_dir)).predict(frame)
        np.testing.assert_allclose(served, local, rtol=0, atol=1e-6)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
        log.close()
