import numpy as np
import pytest

from mlcheck.errors import ConfigError
from mlcheck.models.load import load_model, resolve_model_uri


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("", "is empty"),
        ("s3://bucket/model", "neither a known URI nor an existing path.*'models:/NAME@ALIAS'"),
        ("models:/bank", "is not a registry URI; use 'models:/NAME@ALIAS'"),
        ("runs:/", "is not a run URI"),
    ],
)
def test_bad_uris_name_the_uri_and_accepted_forms(uri, match):
    with pytest.raises(ConfigError, match=match):
        resolve_model_uri(uri)


def test_a_directory_without_mlmodel_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is not an MLflow model directory"):
        resolve_model_uri(str(tmp_path))


def test_xgboost_fast_path_matches_frame_and_records(small_model_dir, small_bank):
    model = load_model(str(small_model_dir))
    assert model.info.flavor == "xgboost"
    assert model.info.feature_names[:2] == ("age", "job")
    rows = small_bank.head(50)
    from_frame = model.predict(rows)
    from_records = model.predict(
        {c: rows[c].astype(object).tolist() for c in model.info.feature_names}
    )
    np.testing.assert_allclose(from_frame, from_records, rtol=0, atol=1e-7)
    assert ((from_frame >= 0) & (from_frame <= 1)).all()


def test_sklearn_model_scores_with_predict_proba(sklearn_model_dir, other_data):
    model = load_model(str(sklearn_model_dir))
    assert model.info.flavor == "sklearn"
    assert [f.kind.value for f in model.info.features] == ["numeric", "numeric", "categorical"]
    scores = model.predict(other_data[1].drop(columns=["label"]))
    assert scores.shape == (3000,) and 0 < scores.mean() < 1


def test_custom_pyfunc_model_is_scored(tmp_path, other_data):
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.full(len(model_input), 0.25)

    frame = other_data[0].drop(columns=["label"])
    mlflow.pyfunc.save_model(
        str(tmp_path / "m"),
        python_model=Constant(),
        signature=infer_signature(frame, np.zeros(len(frame))),
        pip_requirements=["mlflow"],
    )
    model = load_model(str(tmp_path / "m"))
    assert model.info.flavor == "pyfunc"
    np.testing.assert_allclose(model.predict(frame.head(5)), 0.25)


def test_registry_alias_uri_loads_the_aliased_version(tmp_path, small_model_dir, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        client = MlflowClient()
        client.create_registered_model("bank")
        version = client.create_model_version("bank", str(small_model_dir), run_id=None)
        client.set_registered_model_alias("bank", "challenger", version.version)
        model = load_model("models:/bank@challenger")
        assert model.info.flavor == "xgboost" and model.info.version == str(version.version)
        assert load_model("models:/bank/1").info.version == "1"
        with pytest.raises(ConfigError, match="'models:/bank@champion' could not be found"):
            load_model("models:/bank@champion")
    finally:
        mlflow.set_tracking_uri(None)
