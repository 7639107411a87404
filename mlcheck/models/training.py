"""Training the demo model: XGBoost saved as an MLflow model directory in XGBoost's own format.

The directory has two flavors: `xgboost` (mlcheck's fast path loads the booster) and
`python_function`, whose loader (`mlcheck.models.pyfunc_loader`) encodes categories as mlcheck
does, so `mlflow models serve` and `mlflow.pyfunc.load_model` score plain JSON-shaped rows.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.data.labels import binary_labels
from mlcheck.errors import ConfigError, DataError
from mlcheck.extras import require
from mlcheck.features import (
    FeatureKind,
    FeatureSpec,
    encode_frame,
    features_to_json,
    infer_features,
)

__all__ = ["METADATA_KEY", "MODEL_FORMAT", "PYFUNC_LOADER", "mlflow_signature", "train_xgboost"]

#: Key of mlcheck's own entry in an MLflow model's metadata (feature kinds and categories).
METADATA_KEY = "mlcheck"

#: Version of the saved layout, in the metadata as `format`. 1 (no `format`): xgboost's own
#: pyfunc, which fails on string categories; 2: mlcheck's pyfunc loader.
MODEL_FORMAT = 2

#: The `loader_module` of the `python_function` flavor of trained models.
PYFUNC_LOADER = "mlcheck.models.pyfunc_loader"

_MLFLOW_TYPES = {
    FeatureKind.NUMERIC: "double",
    FeatureKind.INTEGER: "long",
    FeatureKind.CATEGORICAL: "string",
    FeatureKind.BOOLEAN: "boolean",
}


def mlflow_signature(features: Sequence[FeatureSpec]) -> Any:
    """The MLflow signature of a binary classifier that takes `features`, returns P(class 1)."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec(_MLFLOW_TYPES[f.kind], f.name) for f in features])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "probability")]))


def _serving_requirements() -> list[str]:
    """What scoring the model needs where it is served: the pyfunc loader is in mlcheck."""
    from importlib.metadata import PackageNotFoundError, version

    requirements = []
    for name in ("mlcheck", "mlflow", "xgboost", "pandas", "numpy"):
        try:
            requirements.append(f"{name}=={version(name)}")
        except PackageNotFoundError:  # run from a source tree: name it without a version
            requirements.append(name)
    return requirements


def _save(booster: Any, out: Path, features: Sequence[FeatureSpec], target: str) -> None:
    """Save the xgboost flavor, then point the python_function flavor at mlcheck's loader."""
    import mlflow.pyfunc
    import mlflow.xgboost
    from mlflow.models import Model

    metadata = {"features": features_to_json(features), "target": target, "format": MODEL_FORMAT}
    mlflow.xgboost.save_model(
        booster,
        str(out),
        signature=mlflow_signature(features),
        model_format="ubj",
        metadata={METADATA_KEY: metadata},
        pip_requirements=_serving_requirements(),
    )
    mlmodel = out / "MLmodel"
    model = Model.load(str(mlmodel))
    env = model.flavors[mlflow.pyfunc.FLAVOR_NAME].get("env") or {}
    mlflow.pyfunc.add_to_model(
        model,
        loader_module=PYFUNC_LOADER,
        conda_env=env.get("conda"),
        python_env=env.get("virtualenv"),
    )
    model.save(str(mlmodel))


def _check_target(frame: pd.DataFrame, target: str) -> np.ndarray:
    labels = binary_labels(frame, target, "training data")
    if len(np.unique(labels)) < 2:
        raise DataError(f"target={target!r} has a single class; training needs both 0 and 1")
    return labels.astype(np.float32)


def train_xgboost(
    frame: pd.DataFrame,
    out: str | Path,
    target: str = "y",
    seed: int = 0,
    rounds: int = 300,
    features: Sequence[FeatureSpec] | None = None,
    overwrite: bool = False,
) -> Path:
    """Train a binary XGBoost classifier on `frame` and save it as an MLflow model at `out`."""
    require("xgboost", "xgboost", "training an XGBoost model (mlcheck train, the demo model)")
    import xgboost as xgb

    if rounds < 1:
        raise ConfigError(f"rounds={rounds} must be at least 1")
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise ConfigError(f"out={str(out)!r} already exists; choose a new directory")
        shutil.rmtree(out)
    labels = _check_target(frame, target)
    features = tuple(features) if features else infer_features(frame, exclude=[target])
    feature_types = ["c" if f.is_categorical else "q" for f in features]
    matrix = xgb.DMatrix(
        encode_frame(frame, features),
        label=labels,
        feature_names=[f.name for f in features],
        feature_types=feature_types,
        enable_categorical=True,
    )
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": 5,
        "eta": 0.1,
        "subsample": 0.9,
        "max_cat_to_onehot": 1,
        "nthread": 2,
        "seed": seed,
    }
    booster = xgb.train(params, matrix, num_boost_round=rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save(booster, out, features, target)
    return out
