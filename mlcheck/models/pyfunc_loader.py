"""MLflow's pyfunc of a model saved by `train_xgboost`: JSON-shaped rows in, P(class 1) out.

The booster was trained on mlcheck's category codes, so MLflow's own xgboost pyfunc (which hands
the frame to XGBoost as is) fails on string categories. This module is the `loader_module` of the
model's `python_function` flavor: `mlflow models serve` and `mlflow.pyfunc.load_model` encode the
rows exactly as mlcheck does (`encode_frame` with the saved feature metadata) before predicting.
It needs mlcheck where the model is served; the model's requirements name it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError
from mlcheck.features import FeatureSpec, encode_frame, features_from_json

__all__ = ["MlcheckXGBoostModel"]


class MlcheckXGBoostModel:
    """What pyfunc's `predict` calls: mlcheck's encoding, then the booster's P(class 1)."""

    def __init__(self, booster: Any, features: tuple[FeatureSpec, ...]) -> None:
        self._booster = booster
        self._features = features

    def get_raw_model(self) -> Any:
        return self._booster

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [f.name for f in self._features if f.name not in frame.columns]
        if missing:
            raise ValueError(
                f"the rows lack the model's feature(s) {', '.join(missing)}; "
                "send every column of the model's signature"
            )
        matrix = encode_frame(frame, self._features)
        return np.asarray(self._booster.inplace_predict(matrix), dtype=np.float64).reshape(-1)


def _load_pyfunc(path: str) -> MlcheckXGBoostModel:
    """Called by MLflow with the model directory (the flavor names no `data`)."""
    import mlflow.xgboost
    from mlflow.models import Model

    from mlcheck.models.training import METADATA_KEY

    own = (Model.load(path).metadata or {}).get(METADATA_KEY) or {}
    if not own.get("features"):
        raise ConfigError(
            f"model={path!r} has no mlcheck feature metadata (metadata.{METADATA_KEY}.features); "
            "save it with `mlcheck train` (mlcheck.models.training.train_xgboost)"
        )
    booster = mlflow.xgboost.load_model(path)
    booster = booster.get_booster() if hasattr(booster, "get_booster") else booster
    return MlcheckXGBoostModel(booster, features_from_json(own["features"]))
