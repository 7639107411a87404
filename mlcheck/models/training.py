"""Training the demo model: XGBoost saved as an MLflow model directory in XGBoost's own format."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.data.labels import binary_labels
from mlcheck.errors import ConfigError, DataError
from mlcheck.features import (
    FeatureKind,
    FeatureSpec,
    encode_frame,
    features_to_json,
    infer_features,
)

__all__ = ["METADATA_KEY", "mlflow_signature", "train_xgboost"]

#: Key of mlcheck's own entry in an MLflow model's metadata (feature kinds and categories).
METADATA_KEY = "mlcheck"

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
    import mlflow.xgboost
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
    mlflow.xgboost.save_model(
        booster,
        str(out),
        signature=mlflow_signature(features),
        model_format="ubj",
        metadata={METADATA_KEY: {"features": features_to_json(features), "target": target}},
    )
    return out
