"""Loading a model from a URI into one `Predictor` interface.

Accepted URIs: a local MLflow model directory (any flavor pyfunc can load);
`models:/NAME@ALIAS`, `models:/NAME/VERSION`; `runs:/RUN_ID/PATH`. XGBoost models take a
fast path (`inplace_predict` on a float32 matrix); scikit-learn models are scored with
`predict_proba`; anything else goes through pyfunc.
"""

from __future__ import annotations

import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError, DataError
from mlcheck.features import FeatureKind, FeatureSpec, encode_frame, features_from_json
from mlcheck.models.mlflow_server import bounded_requests, call, timeout_s

__all__ = ["ACCEPTED_URIS", "ModelInfo", "Predictor", "load_model", "resolve_model_uri"]

ACCEPTED_URIS = (
    "a local MLflow model directory (holding an MLmodel file), "
    "'models:/NAME@ALIAS', 'models:/NAME/VERSION' or 'runs:/RUN_ID/PATH'"
)
_REGISTRY_URI = re.compile(r"^models:/[^/@]+(@[\w-]+|/\d+|/latest)$")
_RUNS_URI = re.compile(r"^runs:/[0-9a-zA-Z]+/.+$")
_MLFLOW_KINDS = {
    "double": FeatureKind.NUMERIC,
    "float": FeatureKind.NUMERIC,
    "long": FeatureKind.INTEGER,
    "integer": FeatureKind.INTEGER,
    "string": FeatureKind.CATEGORICAL,
    "boolean": FeatureKind.BOOLEAN,
}

Records = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is: where it came from, its flavor and the features it takes."""

    uri: str
    path: str
    flavor: str
    version: str | None
    features: tuple[FeatureSpec, ...] | None
    load_seconds: float
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return tuple(f.name for f in self.features) if self.features is not None else None


class Predictor(ABC):
    """A binary classifier: P(class 1) for a frame or for validated request columns."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info

    @abstractmethod
    def predict_proba(self, data: pd.DataFrame | Records) -> np.ndarray:
        """Probabilities of class 1, one float per row."""

    def _frame(self, data: pd.DataFrame | Records) -> pd.DataFrame:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        names = self.info.feature_names
        if names is None:
            return frame
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(
                f"the data lacks the model's feature(s) {', '.join(missing)}; "
                "pass data with every column of the model's signature"
            )
        return frame[list(names)]


class XGBoostPredictor(Predictor):
    """The fast path: categories become codes, then `inplace_predict` on a float32 matrix."""

    def __init__(self, info: ModelInfo, booster: Any) -> None:
        super().__init__(info)
        self._booster = booster
        features = info.features or ()
        self._lookup = {
            f.name: {c: float(i) for i, c in enumerate(f.categories or ())}
            for f in features
            if f.is_categorical
        }

    def _matrix(self, columns: Records) -> np.ndarray:
        features = self.info.features or ()
        n = len(next(iter(columns.values()))) if columns else 0
        matrix = np.empty((n, len(features)), dtype=np.float32)
        for i, spec in enumerate(features):
            values = columns[spec.name]
            if spec.is_categorical:
                lookup = self._lookup[spec.name]
                matrix[:, i] = [lookup.get(v, np.nan) for v in values]
            else:
                matrix[:, i] = values
        return matrix

    def predict_proba(self, data: pd.DataFrame | Records) -> np.ndarray:
        if isinstance(data, pd.DataFrame):
            matrix = encode_frame(self._frame(data), self.info.features or ())
        else:
            matrix = self._matrix(data)
        return np.asarray(self._booster.inplace_predict(matrix), dtype=np.float64).reshape(-1)


def _to_probabilities(output: Any, flavor: str) -> np.ndarray:
    values = output.to_numpy() if hasattr(output, "to_numpy") else np.asarray(output)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, -1]
    values = values.reshape(-1)
    if values.size and (np.nanmin(values) < 0.0 or np.nanmax(values) > 1.0):
        raise DataError(
            f"the {flavor} model returned values outside [0, 1]; mlcheck needs P(class 1). "
            "Return probabilities from predict (or save a classifier with predict_proba)"
        )
    return values


class SklearnPredictor(Predictor):
    """A scikit-learn classifier scored with `predict_proba` (pyfunc's predict gives labels)."""

    def __init__(self, info: ModelInfo, model: Any) -> None:
        super().__init__(info)
        if not hasattr(model, "predict_proba"):
            raise ConfigError(
                f"model={info.uri!r} is a scikit-learn model without predict_proba; "
                "mlcheck gates binary classifiers that give probabilities"
            )
        self._model = model

    def predict_proba(self, data: pd.DataFrame | Records) -> np.ndarray:
        return _to_probabilities(self._model.predict_proba(self._frame(data)), "scikit-learn")


class PyfuncPredictor(Predictor):
    """Any other MLflow model: pyfunc `predict`, which must return P(class 1)."""

    def __init__(self, info: ModelInfo, model: Any) -> None:
        super().__init__(info)
        self._model = model

    def predict_proba(self, data: pd.DataFrame | Records) -> np.ndarray:
        return _to_probabilities(self._model.predict(self._frame(data)), "pyfunc")


def _download(uri: str) -> Path:
    import mlflow

    target = Path(tempfile.mkdtemp(prefix="mlcheck-model-"))
    path = call(
        f"model={uri!r}",
        lambda: mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)),
    )
    return Path(path)


def resolve_model_uri(uri: str) -> Path:
    """The local MLflow model directory a URI names, downloading registry or run models."""
    if not uri or not isinstance(uri, str):
        raise ConfigError(f"model={uri!r} is empty; pass {ACCEPTED_URIS}")
    if uri.startswith("models:/"):
        if not _REGISTRY_URI.match(uri):
            raise ConfigError(
                f"model={uri!r} is not a registry URI; use 'models:/NAME@ALIAS' "
                "or 'models:/NAME/VERSION'"
            )
        return _download(uri)
    if uri.startswith("runs:/"):
        if not _RUNS_URI.match(uri):
            raise ConfigError(f"model={uri!r} is not a run URI; use 'runs:/RUN_ID/PATH'")
        return _download(uri)
    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.exists():
        raise ConfigError(
            f"model={uri!r} is neither a known URI nor an existing path; pass {ACCEPTED_URIS}"
        )
    if not (path / "MLmodel").is_file():
        raise ConfigError(
            f"model={uri!r} is not an MLflow model directory (it has no MLmodel file); "
            "save the model with mlflow.<flavor>.save_model(model, path)"
        )
    return path.resolve()


def _features_of(mlflow_model: Any) -> tuple[FeatureSpec, ...] | None:
    """Feature specs from mlcheck's metadata if present, else from the MLflow signature."""
    own = (mlflow_model.metadata or {}).get("mlcheck") or {}
    if own.get("features"):
        return features_from_json(own["features"])
    signature = mlflow_model.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return None
    specs = []
    for col in signature.inputs.inputs:
        kind = _MLFLOW_KINDS.get(str(getattr(col.type, "name", col.type)).lower())
        if kind is None:
            raise ConfigError(
                f"model signature column {col.name!r} has type {col.type}; mlcheck supports "
                f"{', '.join(sorted(_MLFLOW_KINDS))}"
            )
        specs.append(FeatureSpec(col.name, kind))
    return tuple(specs)


def _registry_version(uri: str) -> str | None:
    if not uri.startswith("models:/"):
        return None
    tail = uri.removeprefix("models:/")
    if "@" in tail:
        name, alias = tail.split("@", 1)
        try:
            from mlflow import MlflowClient

            with bounded_requests(timeout_s()):
                return str(MlflowClient().get_model_version_by_alias(name, alias).version)
        except Exception:  # the version is informative only; the model itself did load
            return None
    return tail.rsplit("/", 1)[-1]


def load_model(uri: str) -> Predictor:
    """Load the model `uri` names; errors name the URI and the accepted forms."""
    from mlflow.models import Model

    started = time.perf_counter()
    path = resolve_model_uri(uri)
    try:
        mlflow_model = Model.load(str(path))
    except Exception as exc:
        raise ConfigError(
            f"model={uri!r}: the MLmodel file at {str(path)!r} is unreadable: {exc}"
        ) from exc
    features = _features_of(mlflow_model)
    flavors = mlflow_model.flavors
    version = _registry_version(uri)

    def info(flavor: str) -> ModelInfo:
        return ModelInfo(
            uri=uri,
            path=str(path),
            flavor=flavor,
            version=version,
            features=features,
            load_seconds=time.perf_counter() - started,
            metadata=dict(mlflow_model.metadata or {}),
        )

    try:
        if "xgboost" in flavors and features is not None:
            import mlflow.xgboost

            model = mlflow.xgboost.load_model(str(path))
            booster = model.get_booster() if hasattr(model, "get_booster") else model
            return XGBoostPredictor(info("xgboost"), booster)
        if "sklearn" in flavors:
            import mlflow.sklearn

            return SklearnPredictor(info("sklearn"), mlflow.sklearn.load_model(str(path)))
        if "python_function" in flavors:
            import mlflow.pyfunc

            return PyfuncPredictor(info("pyfunc"), mlflow.pyfunc.load_model(str(path)))
    except (ConfigError, DataError):
        raise
    except Exception as exc:
        raise ConfigError(f"model={uri!r} could not be loaded from {str(path)!r}: {exc}") from exc
    raise ConfigError(
        f"model={uri!r} has the flavors {', '.join(flavors)}; mlcheck loads xgboost, sklearn "
        "or any python_function model"
    )
