"""Loading a model from a URI into one `Predictor` interface.

Accepted URIs: a local MLflow model directory (any flavor pyfunc can load);
`models:/NAME@ALIAS`, `models:/NAME/VERSION`; `runs:/RUN_ID/PATH`. XGBoost models take a
fast path (`inplace_predict` on a float32 matrix); scikit-learn (and LightGBM) classifiers
are scored with `predict_proba`, regressors with `predict`; anything else goes through pyfunc.
Binary and multiclass classifiers and regressors share one `Predictor` interface.
"""

from __future__ import annotations

import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError, DataError, MlcheckError
from mlcheck.extras import require
from mlcheck.features import FeatureKind, FeatureSpec, encode_frame, features_from_json
from mlcheck.models.mlflow_server import bounded_requests, call, timeout_s
from mlcheck.stats.tasks import TASK_CHOICES, Task, TaskChoice, is_task_choice

__all__ = [
    "ACCEPTED_URIS",
    "ModelInfo",
    "Predictor",
    "load_model",
    "resolve_model_uri",
]

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

#: XGBoost predicts at most this many rows on one thread (see `XGBoostPredictor`).
SINGLE_THREAD_ROWS = 64


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
    """A model's outputs for a frame or for validated request columns, by task.

    `predict` returns P(the second class) per row for a binary classifier, class probabilities
    (rows x classes, in the order of `classes`) for a multiclass one, and a value per row for
    a regressor. `task` is None until a model that cannot say what it is (a plain pyfunc)
    has been scored once; its outputs then decide.
    """

    #: Small predicts are a quick native call that may run on a server's event loop.
    inline_ok: ClassVar[bool] = False

    def __init__(
        self, info: ModelInfo, task: Task | None, classes: Sequence[Any] | None = None
    ) -> None:
        self.info = info
        self.task = task
        self.classes: tuple[Any, ...] | None = tuple(classes) if classes is not None else None

    @abstractmethod
    def _outputs(self, data: pd.DataFrame | Records) -> Any:
        """The model's raw outputs (probabilities or values)."""

    def predict(self, data: pd.DataFrame | Records) -> np.ndarray:
        """P(class 1), class probabilities or values, checked against the task."""
        values = np.asarray(_as_array(self._outputs(data)), dtype=np.float64)
        if self.task is None:
            self.task = _task_of_outputs(values)
        return _checked(values, self.task, self.info, self.classes)

    def scores(self, frame: pd.DataFrame, what: str = "the data") -> np.ndarray:
        """`predict` on every row of `frame`; the model's own failure, or outputs that do not
        fit the rows, is a DataError naming `what` was scored (the run cannot decide)."""
        try:
            scores = self.predict(frame)
        except MlcheckError:
            raise
        except Exception as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise DataError(
                f"model={self.info.uri!r} could not score {what}: {type(exc).__name__}: "
                f"{message[:500]}"
            ) from exc
        if len(scores) != len(frame) or not np.isfinite(scores).all():
            raise DataError(
                f"model={self.info.uri!r} returned {len(scores)} scores for {len(frame)} rows "
                f"of {what}, or non-finite values; check that the data matches the model's "
                "features"
            )
        return scores

    def require_task(self, requested: str) -> TaskChoice:
        """The task to gate as: `requested`, unless `auto`; a mismatch with what the model is
        (a regressor gated as a classifier, ...) is a ConfigError naming both."""
        if not is_task_choice(requested):
            raise ConfigError(
                f"--task={requested!r} is not a task; use one of: {', '.join(TASK_CHOICES)}"
            )
        if requested == "auto":
            return self.task or "auto"
        if self.task is None:
            self.task = requested
            return requested
        if self.task != requested:
            what = {
                "binary": "a binary classifier",
                "multiclass": "a multiclass classifier",
                "regression": "a regressor",
            }
            raise ConfigError(
                f"task={requested!r} but model={self.info.uri!r} is {what[self.task]}: "
                f"{what[requested]} cannot be gated with its outputs. Set [data] task "
                f"(or --task) to {self.task!r} or 'auto'"
            )
        return requested

    def _frame(self, data: pd.DataFrame | Records) -> pd.DataFrame:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        names = self.info.feature_names
        if names is not None:
            missing = [n for n in names if n not in frame.columns]
            if missing:
                raise DataError(
                    f"the data lacks the model's feature(s) {', '.join(missing)}; "
                    "pass data with every column of the model's signature"
                )
            frame = frame[list(names)]
        return missing_as_nan(frame)


def missing_as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every missing value of a text column as NaN, as pandas reads a missing
    value from CSV: JSON null and Parquet give None, and scikit-learn's encoders take None and
    NaN for two different categories. The frame itself is left as it is."""
    text = [
        name
        for name, dtype in frame.dtypes.items()
        if dtype == object and frame[name].isna().any()  # noqa: E721 - object dtype only
    ]
    if not text:
        return frame
    fixed = frame.copy(deep=False)
    for name in text:
        column = frame[name]
        fixed[name] = column.where(column.notna(), np.nan)
    return fixed


def _as_array(output: Any) -> Any:
    return output.to_numpy() if hasattr(output, "to_numpy") else output


def _task_of_outputs(values: np.ndarray) -> Task:
    """What unlabelled outputs are: a column per class, P(class 1) in [0, 1], else values."""
    if values.ndim == 2 and values.shape[1] > 2:
        return "multiclass"
    if values.ndim == 2 and values.shape[1] == 2:
        return "binary"
    finite = values[np.isfinite(values)]
    in_unit = finite.size > 0 and finite.min() >= 0.0 and finite.max() <= 1.0
    return "binary" if in_unit else "regression"


def _checked(
    values: np.ndarray, task: Task, info: ModelInfo, classes: tuple[Any, ...] | None
) -> np.ndarray:
    """The outputs in the task's shape, or a DataError naming the model and the problem."""
    model = f"model={info.uri!r} ({info.flavor})"
    if task == "regression":
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise DataError(
                f"{model} returned {values.shape[1]} outputs per row; a regressor returns one "
                "value per row. If it is a classifier, set [data] task to 'multiclass'"
            )
        return values
    if values.ndim == 2 and task == "binary":
        if values.shape[1] > 2:
            raise DataError(
                f"{model} returned {values.shape[1]} class probabilities per row; set [data] "
                "task to 'multiclass' (or 'auto')"
            )
        values = values[:, -1]
    if task == "multiclass" and values.ndim != 2:
        raise DataError(
            f"{model} returned one number per row; a multiclass model returns a probability "
            "per class. Save it so that predict returns predict_proba's matrix"
        )
    if ((values < 0.0) | (values > 1.0)).any():  # NaN is neither (the callers refuse it)
        raise DataError(
            f"{model} returned values outside [0, 1], which are not probabilities; return "
            "probabilities from predict (or save a classifier with predict_proba), or set "
            "[data] task to 'regression' if it is a regressor"
        )
    if task == "multiclass":
        if classes is not None and values.shape[1] != len(classes):
            raise DataError(
                f"{model} returned {values.shape[1]} probabilities per row for its "
                f"{len(classes)} classes"
            )
        sums = values.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > 1e-3)
        if off.size:
            raise DataError(
                f"{model}: class probabilities do not sum to one (row {int(off[0])}: "
                f"{float(sums[off[0]]):.4f}); return normalised probabilities (softmax)"
            )
    return values.reshape(-1) if task == "binary" else values


def _xgboost_task(booster: Any) -> tuple[Task, int]:
    """The task and class count from an XGBoost booster's objective."""
    import json

    learner = json.loads(booster.save_config())["learner"]
    objective = str(learner["objective"]["name"])
    classes = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
    if objective.startswith("binary:logistic"):
        return "binary", 2
    if objective == "multi:softprob":
        return "multiclass", classes
    if objective.startswith(("binary:", "multi:")):
        raise ConfigError(
            f"the XGBoost objective {objective!r} gives labels or margins, not probabilities; "
            "train with binary:logistic or multi:softprob"
        )
    return "regression", 0


class XGBoostPredictor(Predictor):
    """The fast path: categories become codes, then `inplace_predict` on a float32 matrix."""

    inline_ok = True  # one row of the demo's 200 trees: ~0.3 ms

    def __init__(self, info: ModelInfo, model: Any) -> None:
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        task, count = _xgboost_task(booster)
        classes = getattr(model, "classes_", None)
        if classes is None and task != "regression":
            classes = range(count)
        super().__init__(info, task, classes)
        self._booster = booster
        # Small inputs on one thread: OpenMP's threads cost more than they save there, and
        # when the cores are busy (a server under load) a parallel region waits for a
        # descheduled thread: 47 vs 1530 requests/s, p99 357 vs 8 ms, at 8 connections.
        self._single = booster.copy()
        self._single.set_param({"nthread": 1})
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

    def _outputs(self, data: pd.DataFrame | Records) -> np.ndarray:
        if isinstance(data, pd.DataFrame):
            matrix = encode_frame(self._frame(data), self.info.features or ())
        else:
            matrix = self._matrix(data)
        booster = self._single if len(matrix) <= SINGLE_THREAD_ROWS else self._booster
        # `_matrix` and `encode_frame` put the model's features in its order already
        return booster.inplace_predict(matrix, validate_features=False)


class _NativeThreads:
    """Native thread pools (OpenMP of scikit-learn's HistGradientBoosting and of LightGBM,
    BLAS) held to one thread for a small predict: when the cores are busy, a parallel region
    waits for a descheduled thread (a HistGradientBoosting pipeline served with default
    threads: single-row p95 283-1,999 ms; 12.7 ms with one). Made once the model is loaded,
    so its libraries are known; a limit costs ~15 us."""

    def __init__(self) -> None:
        from threadpoolctl import ThreadpoolController

        self._controller = ThreadpoolController()

    def for_rows(self, rows: int) -> AbstractContextManager[Any]:
        return self._controller.limit(limits=1) if rows <= SINGLE_THREAD_ROWS else nullcontext()


class SklearnPredictor(Predictor):
    """A scikit-learn-style model (scikit-learn, or LightGBM's scikit-learn API): classifiers
    are scored with `predict_proba` (pyfunc's predict gives labels), regressors with `predict`."""

    def __init__(self, info: ModelInfo, model: Any) -> None:
        classes = getattr(model, "classes_", None)
        task: Task
        if hasattr(model, "predict_proba") and classes is not None:
            task = "binary" if len(classes) == 2 else "multiclass"
        elif hasattr(model, "predict"):
            task, classes = "regression", None
        else:
            raise ConfigError(f"model={info.uri!r} has neither predict_proba nor predict")
        super().__init__(info, task, classes)
        self._model, self._threads = model, _NativeThreads()

    def _outputs(self, data: pd.DataFrame | Records) -> Any:
        frame = self._frame(data)
        with self._threads.for_rows(len(frame)):
            if self.task == "regression":
                return self._model.predict(frame)
            return self._model.predict_proba(frame)


class LightGBMBoosterPredictor(Predictor):
    """A LightGBM `Booster` (MLflow's lightgbm flavor): its predict gives probabilities for
    binary and multiclass objectives and values for the others."""

    def __init__(self, info: ModelInfo, booster: Any) -> None:
        objective = str(booster.params.get("objective") or booster.dump_model().get("objective"))
        task: Task
        if objective.startswith(("binary", "cross_entropy")):
            task, classes = "binary", range(2)
        elif objective.startswith(("multiclass", "softmax", "multiclassova")):
            task, classes = "multiclass", range(int(booster.params.get("num_class", 0)))
        else:
            task, classes = "regression", None
        super().__init__(info, task, classes)
        self._booster, self._threads = booster, _NativeThreads()

    def _outputs(self, data: pd.DataFrame | Records) -> Any:
        frame = self._frame(data)
        with self._threads.for_rows(len(frame)):
            return self._booster.predict(frame)


class PyfuncPredictor(Predictor):
    """Any other MLflow model: pyfunc `predict`, which must return probabilities (a column
    per class, or P(class 1)) or values; its outputs (or the task asked for) decide which."""

    def __init__(self, info: ModelInfo, model: Any) -> None:
        super().__init__(info, None)
        self._model, self._threads = model, _NativeThreads()

    def _outputs(self, data: pd.DataFrame | Records) -> Any:
        frame = self._frame(data)
        with self._threads.for_rows(len(frame)):
            output = self._model.predict(frame)
        if self.classes is None and isinstance(output, pd.DataFrame) and output.shape[1] > 1:
            self.classes = tuple(output.columns)
        return output


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
        # MLflow marks a column that had missing values `required: false`: it may be null
        specs.append(FeatureSpec(col.name, kind, nullable=not getattr(col, "required", True)))
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


#: The pip package of a module a model may import, where the two names differ.
PIP_NAMES = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "cv2": "opencv-python",
    "PIL": "pillow",
}


def _missing_module(exc: BaseException) -> str:
    """The top-level module a load failed to import ("" when it was something else)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            return current.name.split(".")[0]
        current = current.__cause__ or current.__context__
    return ""


def load_model(uri: str, task: str = "auto") -> Predictor:
    """Load the model `uri` names, to be gated as `task` (`auto`: what the model is); errors
    name the URI and the accepted forms."""
    predictor = _load(uri)
    predictor.require_task(task)
    return predictor


def _load(uri: str) -> Predictor:
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

    for flavor in ("xgboost", "lightgbm"):  # one line naming the extra, not an ImportError
        if flavor in flavors:
            require(flavor, flavor, f"model={uri!r} (a {flavor} model)")
    try:
        if "xgboost" in flavors and features is not None:
            import mlflow.xgboost

            return XGBoostPredictor(info("xgboost"), mlflow.xgboost.load_model(str(path)))
        if "sklearn" in flavors:
            import mlflow.sklearn

            return SklearnPredictor(info("sklearn"), mlflow.sklearn.load_model(str(path)))
        if "lightgbm" in flavors:
            import mlflow.lightgbm

            model = mlflow.lightgbm.load_model(str(path))
            if hasattr(model, "booster_"):  # the scikit-learn API
                return SklearnPredictor(info("lightgbm"), model)
            return LightGBMBoosterPredictor(info("lightgbm"), model)
        if "python_function" in flavors:
            import mlflow.pyfunc

            return PyfuncPredictor(info("pyfunc"), mlflow.pyfunc.load_model(str(path)))
    except (ConfigError, DataError):
        raise
    except Exception as exc:
        missing = _missing_module(exc)
        if missing:
            package = PIP_NAMES.get(missing, missing)
            raise ConfigError(
                f"model={uri!r} needs the Python package {package!r}, which is not installed "
                f"here (No module named {missing!r}); install it: pip install {package}"
            ) from exc
        raise ConfigError(f"model={uri!r} could not be loaded from {str(path)!r}: {exc}") from exc
    raise ConfigError(
        f"model={uri!r} has the flavors {', '.join(flavors)}; mlcheck loads xgboost, sklearn, "
        "lightgbm or any python_function model"
    )
